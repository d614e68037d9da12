"""Moved: `ppo_jax.distributions` is now `ppo_jax.core.distributions`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'entropy': 'ppo_jax.core.distributions',
    'kl_divergence': 'ppo_jax.core.distributions',
    'log_prob': 'ppo_jax.core.distributions',
    'log_prob_entropy_kl': 'ppo_jax.core.distributions',
})
