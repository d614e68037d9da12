"""Moved: `ppo_jax.sharding` is now `ppo_jax.parallel.mesh`, `ppo_jax.population.sharded`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'POPULATION_AXIS': 'ppo_jax.parallel.mesh',
    'population_rows': 'ppo_jax.population.sharded',
    'population_sharding': 'ppo_jax.parallel.mesh',
    'run_population': 'ppo_jax.population.sharded',
    'to_host': 'ppo_jax.parallel.mesh',
})
