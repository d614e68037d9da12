"""Moved: `ppo_jax.sweeps` is now `ppo_jax.population.sweep`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'sweep': 'ppo_jax.population.sweep',
})
