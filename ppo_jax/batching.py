"""Moved: `ppo_jax.batching` is now `ppo_jax.util.batching`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'FULL_RESET': 'ppo_jax.util.batching',
    'NO_RESET': 'ppo_jax.util.batching',
    'POOLED_RESET': 'ppo_jax.util.batching',
    'ResetFn': 'ppo_jax.util.batching',
    'any_member': 'ppo_jax.util.batching',
    'max_member': 'ppo_jax.util.batching',
    'reset_pool_size': 'ppo_jax.util.batching',
    'sparse_reset': 'ppo_jax.util.batching',
})
