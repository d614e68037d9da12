"""Network names: the built-in ones and those added with `register_network`."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn

from ppo_jax.networks.feedforward import ActorCritic
from ppo_jax.networks.interface import is_recurrent
from ppo_jax.networks.recurrent import RecurrentActorCritic
from ppo_jax.networks.routing import (
    RoutedActorCritic,
    RoutedRecurrentActorCritic,
    input_leaf_shapes,
    make_routing,
)


class NetworkEntry(NamedTuple):
    """A registered network: `build(config, spec) -> flax module`, and whether it is recurrent."""

    build: Callable
    recurrent: bool


BUILTIN_NETWORKS = ("mlp", "cnn", "gru", "lstm")


_REGISTRY: dict[str, NetworkEntry] = {}


def register_network(name: str, build: Callable, recurrent: bool = False) -> None:
    """Makes `PPOConfig(network=name)` use your own flax module.

    build(config, spec) -> module, where `spec` is the env's `EnvSpec`
    (`policy_dim`, `discrete`, `obs_dim`, `obs_shape`, and for a structured
    observation `obs_layout`, whose `unflatten` turns the flat input back into
    the observation's pytree: your own encoder) and the module follows
    the interface in this module's docstring: feed-forward (`policy`, `value`)
    or, with recurrent=True, recurrent (`initialize_carry`, `unroll`).
    Action masks, multi-discrete logits (a head of `spec.policy_dim` =
    sum(action_dims) logits) and `policy_obs_key`/`value_obs_key` are applied
    around your module (`networks.routing`): with a key set, its `policy` and
    `value` get only that key's leaves.
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
    """The actor-critic of `config` (network, widths, activation) for an env of `spec`,
    behind the env's `Routing` (observation keys, action mask, multi-discrete) where it has one.

    Raises ValueError for `network="cnn"` when the env's observations are not
    images [H, W, C] with H, W >= 3 per convolution layer, or for an observation key
    the env does not have (before anything compiles).
    """
    routing = make_routing(config, spec, env_name)
    inner = _inner_network(config, spec, env_name)
    if not routing.needed:
        return inner
    return (RoutedRecurrentActorCritic if is_recurrent(inner) else RoutedActorCritic)(inner, routing)


def _cnn_error(config, shape_text: str, env_name: str | None) -> ValueError:
    shrink = 2 * len(config.conv_channels)
    return ValueError(
        f"PPOConfig.network='cnn' needs image observations [H, W, C] larger than "
        f"{shrink} x {shrink} ({len(config.conv_channels)} unpadded 3x3 convolutions); "
        f"{env_name or 'this env'} has observations of shape {shape_text}. Use "
        f"network='mlp' (valid choices: {', '.join(network_names())}) or fewer conv_channels")


def _inner_network(config, spec, env_name: str | None) -> nn.Module:
    if config.network in _REGISTRY:
        return _REGISTRY[config.network].build(config, spec)
    if config.network in ("gru", "lstm"):
        return RecurrentActorCritic(
            policy_dim=spec.policy_dim, discrete=spec.discrete,
            hidden_sizes=tuple(config.hidden_sizes), activation=config.activation,
            cell=config.network, cell_size=config.rnn_size)
    obs_shape = actor_leaves = critic_leaves = None
    if config.network == "cnn":
        shrink = 2 * len(config.conv_channels)
        fits = lambda shape: len(shape) == 3 and min(shape[:2]) > shrink
        if spec.obs_layout is not None:
            actor_leaves = input_leaf_shapes(spec, config.policy_obs_key)
            critic_leaves = input_leaf_shapes(spec, config.value_obs_key)
            images = [shape for shape in actor_leaves + critic_leaves if len(shape) == 3]
            if not images or not all(fits(shape) for shape in images):
                leaves = ", ".join(f"{leaf.key} {list(leaf.shape)}" for leaf in spec.obs_layout.leaves)
                raise _cnn_error(config, f"(a structured observation) {leaves}", env_name)
        else:
            obs_shape = tuple(spec.obs_shape)
            if not fits(obs_shape):
                raise _cnn_error(config, str(obs_shape), env_name)
    return ActorCritic(
        policy_dim=spec.policy_dim,
        discrete=spec.discrete,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        obs_shape=obs_shape,
        conv_channels=tuple(config.conv_channels),
        actor_leaf_shapes=actor_leaves,
        critic_leaf_shapes=critic_leaves,
    )
