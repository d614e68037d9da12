"""Moved: `ppo_jax.update` is now `ppo_jax.core.update`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'EpochCarry': 'ppo_jax.core.update',
    'MinibatchCarry': 'ppo_jax.core.update',
    'UpdateSettings': 'ppo_jax.core.update',
    'epoch_step': 'ppo_jax.core.update',
    'init_optimizer_state': 'ppo_jax.core.update',
    'make_optimizer': 'ppo_jax.core.update',
    'minibatch_step': 'ppo_jax.core.update',
    'random_permutation': 'ppo_jax.core.update',
    'shuffle_into_minibatches': 'ppo_jax.core.update',
    'update_policy': 'ppo_jax.core.update',
})
