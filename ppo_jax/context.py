"""The static pieces of one agent, built once from a config: env adapter and network.

Training (`train.py`) and acting with a trained agent (`evaluate.py`) both
start here, so they always see the same env wrapping and the same network.
"""

from __future__ import annotations

import dataclasses

from ppo_jax.config import PPOConfig
from ppo_jax.envs import GymnaxAdapter, make_env
from ppo_jax.networks import ActorCritic, make_network


@dataclasses.dataclass(frozen=True)
class AgentContext:
    """config: the static settings; adapter: the wrapped env; network: the actor-critic."""

    config: PPOConfig
    adapter: GymnaxAdapter
    network: ActorCritic


def make_context(config: PPOConfig, env=None, env_params=None) -> AgentContext:
    """The adapter for `env` (a gymnax Environment; default: `config.env`) and its network."""
    adapter = make_env(config.env, env, env_params)
    return AgentContext(config, adapter, make_network(config, adapter.spec))
