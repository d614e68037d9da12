"""Moved: `ppo_jax.grids` is now `ppo_jax.population.grids`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'VALID_KEYS': 'ppo_jax.population.grids',
    'check_key': 'ppo_jax.population.grids',
    'check_value': 'ppo_jax.population.grids',
    'check_values': 'ppo_jax.population.grids',
    'configure': 'ppo_jax.population.grids',
    'expand_grid': 'ppo_jax.population.grids',
})
