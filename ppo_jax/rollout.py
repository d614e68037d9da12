"""Moved: `ppo_jax.rollout` is now `ppo_jax.core.rollout`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'EpisodeTally': 'ppo_jax.core.rollout',
    'RolloutCarry': 'ppo_jax.core.rollout',
    'RolloutNoise': 'ppo_jax.core.rollout',
    'bootstrap_values': 'ppo_jax.core.rollout',
    'collect_rollout': 'ppo_jax.core.rollout',
    'draw_rollout_noise': 'ppo_jax.core.rollout',
    'rollout_step': 'ppo_jax.core.rollout',
})
