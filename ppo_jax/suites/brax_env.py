"""Moved: `ppo_jax.suites.brax_env` is now `ppo_jax.envs.suites.brax_env`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'BACKENDS': 'ppo_jax.envs.suites.brax_env',
    'BraxEnv': 'ppo_jax.envs.suites.brax_env',
    'BraxState': 'ppo_jax.envs.suites.brax_env',
    'DEFAULTS': 'ppo_jax.envs.suites.brax_env',
    'OPTIONS': 'ppo_jax.envs.suites.brax_env',
    'env_names': 'ppo_jax.envs.suites.brax_env',
    'make': 'ppo_jax.envs.suites.brax_env',
})
