"""Moved: `ppo_jax.suites.navix_env` is now `ppo_jax.envs.suites.navix_env`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'NavixEnv': 'ppo_jax.envs.suites.navix_env',
    'OPTIONS': 'ppo_jax.envs.suites.navix_env',
    'TERMINATION': 'ppo_jax.envs.suites.navix_env',
    'TRANSITION': 'ppo_jax.envs.suites.navix_env',
    'TRUNCATION': 'ppo_jax.envs.suites.navix_env',
    'env_names': 'ppo_jax.envs.suites.navix_env',
    'make': 'ppo_jax.envs.suites.navix_env',
})
