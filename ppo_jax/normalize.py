"""Moved: `ppo_jax.normalize` is now `ppo_jax.core.normalize`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'EPS': 'ppo_jax.core.normalize',
    'OBS_CLIP': 'ppo_jax.core.normalize',
    'REWARD_CLIP': 'ppo_jax.core.normalize',
    'RewardScaler': 'ppo_jax.core.normalize',
    'RunningMeanStd': 'ppo_jax.core.normalize',
    'init_reward_scaler': 'ppo_jax.core.normalize',
    'init_running_stats': 'ppo_jax.core.normalize',
    'normalize': 'ppo_jax.core.normalize',
    'observe': 'ppo_jax.core.normalize',
    'scale_reward': 'ppo_jax.core.normalize',
    'update_reward_scaler': 'ppo_jax.core.normalize',
    'update_running_stats': 'ppo_jax.core.normalize',
})
