"""Moved: `ppo_jax.search_space` is now `ppo_jax.population.search`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'random_search': 'ppo_jax.population.search',
})
