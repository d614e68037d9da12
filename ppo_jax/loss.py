"""Moved: `ppo_jax.loss` is now `ppo_jax.core.loss`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'LossOptions': 'ppo_jax.core.loss',
    'apply_dual_clip': 'ppo_jax.core.loss',
    'clipped_surrogate': 'ppo_jax.core.loss',
    'normalize_advantages': 'ppo_jax.core.loss',
    'ppo_loss': 'ppo_jax.core.loss',
    'surrogate_objective': 'ppo_jax.core.loss',
    'value_loss': 'ppo_jax.core.loss',
})
