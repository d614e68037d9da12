"""Network names: the built-in ones and those added with `register_network`."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn

from ppo_jax.networks.feedforward import ActorCritic
from ppo_jax.networks.recurrent import RecurrentActorCritic


class NetworkEntry(NamedTuple):
    """A registered network: `build(config, spec) -> flax module`, and whether it is recurrent."""

    build: Callable
    recurrent: bool


BUILTIN_NETWORKS = ("mlp", "cnn", "gru", "lstm")


_REGISTRY: dict[str, NetworkEntry] = {}


def register_network(name: str, build: Callable, recurrent: bool = False) -> None:
    """Makes `PPOConfig(network=name)` use your own flax module.

    build(config, spec) -> module, where `spec` is the env's `EnvSpec`
    (`policy_dim`, `discrete`, `obs_dim`, `obs_shape`) and the module follows
    the interface in this module's docstring: feed-forward (`policy`, `value`)
    or, with recurrent=True, recurrent (`initialize_carry`, `unroll`).
    Register it again in any process that loads its checkpoints.

    Examples:
      >>> import flax.linen as nn, ppo_jax
      >>> class Linear(nn.Module):
      ...     policy_dim: int
      ...     def setup(self):  # layers shared by the methods are made in setup
      ...         self.pi, self.v = nn.Dense(self.policy_dim), nn.Dense(1)
      ...     def __call__(self, obs):
      ...         return self.policy(obs), self.value(obs)
      ...     def policy(self, obs):
      ...         return {"logits": self.pi(obs)}
      ...     def value(self, obs):
      ...         return self.v(obs)[..., 0]
      >>> ppo_jax.register_network("linear", lambda config, spec: Linear(spec.policy_dim))
      >>> ppo_jax.PPOConfig(network="linear").network
      'linear'
    """
    if not isinstance(name, str) or not name or name in BUILTIN_NETWORKS:
        raise ValueError(f"register_network: name must be a new non-empty string, not one of the "
                         f"built-in networks {', '.join(BUILTIN_NETWORKS)}; got {name!r}")
    if not callable(build):
        raise TypeError(f"register_network: build must be callable (config, spec) -> module, "
                        f"got {type(build).__name__}")
    _REGISTRY[name] = NetworkEntry(build, bool(recurrent))


def network_names() -> tuple[str, ...]:
    """Every valid `PPOConfig.network`: the built-in ones, then the registered ones."""
    return BUILTIN_NETWORKS + tuple(_REGISTRY)


def is_recurrent_network(name: str) -> bool:
    """Whether `PPOConfig.network = name` is recurrent ("gru", "lstm", or registered so)."""
    return name in ("gru", "lstm") or (name in _REGISTRY and _REGISTRY[name].recurrent)


def make_network(config, spec, env_name: str | None = None) -> nn.Module:
    """The actor-critic of `config` (network, widths, activation) for an env of `spec`.

    Raises ValueError for `network="cnn"` when the env's observations are not
    images [H, W, C] with H, W >= 3 per convolution layer (before anything compiles).
    """
    if config.network in _REGISTRY:
        return _REGISTRY[config.network].build(config, spec)
    if config.network in ("gru", "lstm"):
        return RecurrentActorCritic(
            policy_dim=spec.policy_dim, discrete=spec.discrete,
            hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
            cell=config.network, cell_size=config.rnn_size)
    obs_shape = None
    if config.network == "cnn":
        obs_shape = tuple(spec.obs_shape)
        shrink = 2 * len(config.conv_channels)
        if len(obs_shape) != 3 or min(obs_shape[:2]) <= shrink:
            raise ValueError(
                f"PPOConfig.network='cnn' needs image observations [H, W, C] larger than "
                f"{shrink} x {shrink} ({len(config.conv_channels)} unpadded 3x3 convolutions); "
                f"{env_name or 'this env'} has observations of shape {obs_shape}. Use "
                f"network='mlp' (valid choices: {', '.join(network_names())}) or fewer conv_channels")
    return ActorCritic(
        policy_dim=spec.policy_dim,
        discrete=spec.discrete,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        obs_shape=obs_shape,
        conv_channels=tuple(config.conv_channels),
    )
