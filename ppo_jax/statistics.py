"""Moved: `ppo_jax.statistics` is now `ppo_jax.analysis.statistics`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'DIVERGED_RETURN': 'ppo_jax.analysis.statistics',
    'FINAL_FRACTION': 'ppo_jax.analysis.statistics',
    'FINAL_RETURN_DEFINITION': 'ppo_jax.analysis.statistics',
    'bootstrap_ci': 'ppo_jax.analysis.statistics',
    'diverged_runs': 'ppo_jax.analysis.statistics',
    'final_return': 'ppo_jax.analysis.statistics',
    'final_window': 'ppo_jax.analysis.statistics',
    'interquartile_mean': 'ppo_jax.analysis.statistics',
    'normalized_score': 'ppo_jax.analysis.statistics',
    'stratified_bootstrap_ci': 'ppo_jax.analysis.statistics',
})
