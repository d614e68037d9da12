"""Moved: `ppo_jax.results` is now `ppo_jax.analysis.frames`, `ppo_jax.population.result`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'SweepResult': 'ppo_jax.population.result',
    'metric_order': 'ppo_jax.analysis.frames',
    'tidy_metrics': 'ppo_jax.analysis.frames',
    'update_numbers': 'ppo_jax.analysis.frames',
})
