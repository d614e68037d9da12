"""Feed-forward actor-critics: separate actor and critic MLPs, with a convolutional torso each for images."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.networks.init import layer_gains, orthogonal_kernel_init

_ACTIVATIONS = {
    "tanh": nn.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "elu": nn.elu,
}


class MLP(nn.Module):
    """Dense layers with orthogonal init (gain sqrt 2 hidden, `out_gain` last)."""

    hidden_sizes: Sequence[int]
    activation: str
    out_dim: int
    out_gain: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        gains = layer_gains(len(self.hidden_sizes), self.out_gain)
        for width, gain in zip(self.hidden_sizes, gains):
            x = act(nn.Dense(width, kernel_init=orthogonal_kernel_init(gain),
                             bias_init=nn.initializers.zeros)(x))
        return nn.Dense(self.out_dim, kernel_init=orthogonal_kernel_init(gains[-1]),
                        bias_init=nn.initializers.zeros)(x)


class MLPLayers(nn.Module):
    """Dense layers `hidden_sizes`, each followed by `activation` (orthogonal init, gain sqrt 2)."""

    hidden_sizes: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=orthogonal_kernel_init(np.sqrt(2.0)),
                             bias_init=nn.initializers.zeros)(x))
        return x


class ConvTorso(nn.Module):
    """Flat observations [..., prod(obs_shape)] -> features [..., F].

    Restores the image [H, W, C], then 3x3 convolutions (stride 1, no padding;
    orthogonal init, gain sqrt 2) with `activation` after each, and flattens:
    F = (H - 2L) * (W - 2L) * channels[-1] for L layers. One 16-channel layer
    on MinAtar's 10x10 boards is the torso of Young & Tian (2019).
    """

    obs_shape: tuple
    channels: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, flat_obs: jax.Array) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        batch = flat_obs.shape[:-1]
        x = flat_obs.reshape((-1,) + tuple(self.obs_shape))  # one batch axis for Conv
        for channels in self.channels:
            x = act(nn.Conv(channels, (3, 3), padding="VALID",
                            kernel_init=orthogonal_kernel_init(np.sqrt(2.0)),
                            bias_init=nn.initializers.zeros)(x))
        return x.reshape(batch + (-1,))


class LeafEncoder(nn.Module):
    """A structured observation's flat leaves [..., sum of sizes] -> features [..., F].

    The input is the concatenation of leaves of `leaf_shapes` (in order): each
    image-shaped leaf [H, W, C] goes through its own `ConvTorso`, every other
    leaf is used as it is, and the results are concatenated.
    """

    leaf_shapes: tuple
    channels: Sequence[int]
    activation: str

    @nn.compact
    def __call__(self, flat: jax.Array) -> jax.Array:
        parts, start = [], 0
        for shape in self.leaf_shapes:
            size = int(np.prod(shape))
            leaf = flat[..., start:start + size]
            start += size
            parts.append(ConvTorso(tuple(shape), self.channels, self.activation)(leaf)
                         if len(shape) == 3 else leaf)
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


class ActorCritic(nn.Module):
    """obs [..., obs_dim] -> (dist_params, value [...]).

    policy_dim: width of the policy head: the number of actions (Discrete) or
      the action vector's length (Box); see `EnvSpec.policy_dim`.
    dist_params: {"logits": [..., policy_dim]} for Discrete actions, or
      {"mean": [..., policy_dim], "log_std": [..., policy_dim]} for Box actions
      (a state-independent log-std, broadcast to the batch).
    """

    policy_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    # network="cnn": each of actor and critic starts with its own ConvTorso.
    obs_shape: tuple | None = None  # None: no torso (the MLP reads flat observations)
    conv_channels: Sequence[int] = (16,)
    # network="cnn" on a structured observation: the shapes of the leaves the actor and
    # the critic read (a `LeafEncoder` each: image leaves through a torso). None: flat.
    actor_leaf_shapes: tuple | None = None
    critic_leaf_shapes: tuple | None = None

    # Gains of the output layers: a near-uniform initial policy, a unit-scale value.
    ACTOR_OUT_GAIN = 0.01
    CRITIC_OUT_GAIN = 1.0

    def setup(self):
        self.actor = MLP(self.hidden_sizes, self.activation, self.policy_dim, self.ACTOR_OUT_GAIN)
        self.critic = MLP(self.hidden_sizes, self.activation, 1, self.CRITIC_OUT_GAIN)
        if self.obs_shape is not None:
            # Separate torsos, like the separate MLPs: the critic's value-scale
            # gradients never move the policy's features.
            self.actor_torso = ConvTorso(self.obs_shape, self.conv_channels, self.activation)
            self.critic_torso = ConvTorso(self.obs_shape, self.conv_channels, self.activation)
        if self.actor_leaf_shapes is not None:
            self.actor_torso = LeafEncoder(self.actor_leaf_shapes, self.conv_channels, self.activation)
            self.critic_torso = LeafEncoder(self.critic_leaf_shapes, self.conv_channels, self.activation)
        if not self.discrete:
            self.log_std = self.param("log_std", nn.initializers.zeros, (self.policy_dim,))

    def __call__(self, obs: jax.Array) -> tuple[dict, jax.Array]:
        return self.policy(obs), self.value(obs)

    def policy(self, obs: jax.Array) -> dict:
        """The actor alone: obs [..., obs_dim] -> dist_params (see the class docstring)."""
        out = self.actor(self.actor_torso(obs) if self._has_torso else obs)
        if self.discrete:
            return {"logits": out}
        return {"mean": out, "log_std": jnp.broadcast_to(self.log_std, out.shape)}

    def value(self, obs: jax.Array) -> jax.Array:
        """The critic alone: obs [..., obs_dim] -> value float32 [...]."""
        return self.critic(self.critic_torso(obs) if self._has_torso else obs)[..., 0]

    @property
    def _has_torso(self) -> bool:
        return self.obs_shape is not None or self.actor_leaf_shapes is not None
