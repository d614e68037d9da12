"""Moved: `ppo_jax.suites` is now `ppo_jax.envs.suites` (its modules too: `ppo_jax.suites.brax_env` ->
`ppo_jax.envs.suites.brax_env`, ...). Names are still served here, with a DeprecationWarning."""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'SUITES': 'ppo_jax.envs.suites',
    'Suite': 'ppo_jax.envs.suites',
    'check_options': 'ppo_jax.envs.suites',
    'check_suite_env': 'ppo_jax.envs.suites',
    'choice_option': 'ppo_jax.envs.suites',
    'make_suite_env': 'ppo_jax.envs.suites',
    'positive_int_option': 'ppo_jax.envs.suites',
    'split_env_id': 'ppo_jax.envs.suites',
    'suite_env_ids': 'ppo_jax.envs.suites',
})
