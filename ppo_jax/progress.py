"""Moved: `ppo_jax.progress` is now `ppo_jax.tracking.progress`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'AUTO_REPORTS': 'ppo_jax.tracking.progress',
    'Progress': 'ppo_jax.tracking.progress',
    'ProgressBar': 'ppo_jax.tracking.progress',
    'ProgressHook': 'ppo_jax.tracking.progress',
    'ProgressReport': 'ppo_jax.tracking.progress',
    'SUMMARY_SIZE': 'ppo_jax.tracking.progress',
    'agent_summary': 'ppo_jax.tracking.progress',
    'format_count': 'ppo_jax.tracking.progress',
    'is_due': 'ppo_jax.tracking.progress',
    'make_emitter': 'ppo_jax.tracking.progress',
    'make_report': 'ppo_jax.tracking.progress',
    'reduce_summaries': 'ppo_jax.tracking.progress',
    'report_every': 'ppo_jax.tracking.progress',
    'resolve_progress': 'ppo_jax.tracking.progress',
    'with_progress': 'ppo_jax.tracking.progress',
})
