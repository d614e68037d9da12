"""Moved: `ppo_jax.suites.craftax_env` is now `ppo_jax.envs.suites.craftax_env`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'CraftaxEnv': 'ppo_jax.envs.suites.craftax_env',
    'ENV_IDS': 'ppo_jax.envs.suites.craftax_env',
    'NO_TIME_LIMIT': 'ppo_jax.envs.suites.craftax_env',
    'OPTIONS': 'ppo_jax.envs.suites.craftax_env',
    'env_names': 'ppo_jax.envs.suites.craftax_env',
    'make': 'ppo_jax.envs.suites.craftax_env',
})
