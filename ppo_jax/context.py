"""Moved: `ppo_jax.context` is now `ppo_jax.core.context`.

Its public names are still served here, with a DeprecationWarning naming the new path.
"""

from ppo_jax._moved import moved_names

__getattr__ = moved_names(__name__, {
    'AgentContext': 'ppo_jax.core.context',
    'check_agent_fits': 'ppo_jax.core.context',
    'check_finite_agent': 'ppo_jax.core.context',
    'describe_network': 'ppo_jax.core.context',
    'make_context': 'ppo_jax.core.context',
})
