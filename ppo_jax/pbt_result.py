"""Moved: `ppo_jax.pbt_result` is now `ppo_jax.pbt.result`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'FORMAT': 'ppo_jax.pbt.result',
    'FORMAT_VERSION': 'ppo_jax.pbt.result',
    'PBTBest': 'ppo_jax.pbt.result',
    'PBTResult': 'ppo_jax.pbt.result',
    'check_resume': 'ppo_jax.pbt.result',
    'concat_history': 'ppo_jax.pbt.result',
})
