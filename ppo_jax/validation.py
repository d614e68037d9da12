"""Moved: `ppo_jax.validation` is now `ppo_jax.util.checks`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'check_bool': 'ppo_jax.util.checks',
    'check_integer': 'ppo_jax.util.checks',
    'check_positive_int': 'ppo_jax.util.checks',
    'is_integer': 'ppo_jax.util.checks',
    'is_real': 'ppo_jax.util.checks',
})
