"""Populations of one static config: hyperparameter grids (`grids`), random search (`search`),
the sharded program (`sharded`), `sweep`, and its `SweepResult` (`result`).

The old module `ppo_jax.population` (the compile cache) is now `ppo_jax.parallel.compile`;
its names are still served here with a DeprecationWarning.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'CACHE_SIZE': 'ppo_jax.parallel.compile',
    'clear_cache': 'ppo_jax.parallel.compile',
    'compile_population': 'ppo_jax.parallel.compile',
})
