"""Moved: `ppo_jax.gae` is now `ppo_jax.core.gae`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'compute_gae': 'ppo_jax.core.gae',
})
