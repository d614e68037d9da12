"""Actor-critic networks: separate actor and critic MLPs.

The actor returns the *parameters* of the action distribution (a dict of
arrays) so they can be stored in the rollout and the exact KL between old and
new policies computed later; `make_distribution` turns them into a distrax
distribution.
"""

from __future__ import annotations

from typing import Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_ACTIVATIONS = {
    "tanh": nn.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "elu": nn.elu,
}


def _orthonormal_columns(a: jax.Array) -> jax.Array:
    """Q of the QR decomposition of a [m, n] (m >= n) with diag(R) > 0.

    Classical Gram-Schmidt, each column orthogonalized twice ("twice is
    enough"), in plain jnp ops. LAPACK's batched QR (what `jnp.linalg.qr`
    becomes under `jax.vmap` over seeds) can deadlock jaxlib's CPU thread pool
    for large populations; this never calls LAPACK.
    """

    def add_column(j, q):
        v = jax.lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False)
        for _ in range(2):  # unfilled columns of q are 0 and project nothing
            v = v - q @ (q.T @ v)
        return jax.lax.dynamic_update_index_in_dim(q, v / jnp.linalg.norm(v), j, axis=1)

    return jax.lax.fori_loop(0, a.shape[1], add_column, jnp.zeros_like(a))


def orthogonal(scale: float = 1.0):
    """Orthogonal initializer for Dense kernels [in, out], distributed as
    `flax.linen.initializers.orthogonal(scale)` (Haar; Saxe et al., 2014)."""

    def init(key, shape, dtype=jnp.float32):
        n_rows, n_cols = shape[0], int(np.prod(shape[1:]))
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        if n_rows < n_cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


class MLP(nn.Module):
    """Dense layers with orthogonal init (gain sqrt 2 hidden, `out_scale` last)."""

    hidden_sizes: Sequence[int]
    activation: str
    out_dim: int
    out_scale: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = nn.Dense(width, kernel_init=orthogonal(np.sqrt(2.0)),
                         bias_init=nn.initializers.zeros)(x)
            x = act(x)
        return nn.Dense(self.out_dim, kernel_init=orthogonal(self.out_scale),
                        bias_init=nn.initializers.zeros)(x)


class ActorCritic(nn.Module):
    """obs [..., obs_dim] -> (dist_params, value [...]).

    dist_params: {"logits": [..., A]} for Discrete actions, or
    {"mean": [..., A], "log_std": [..., A]} for Box actions (a state-independent
    log-std, broadcast to the batch).
    """

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    def setup(self):
        self.actor = MLP(self.hidden_sizes, self.activation, self.action_dim, 0.01)
        self.critic = MLP(self.hidden_sizes, self.activation, 1, 1.0)
        if not self.discrete:
            self.log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))

    def __call__(self, obs: jax.Array) -> tuple[dict, jax.Array]:
        return self.policy(obs), self.value(obs)

    def policy(self, obs: jax.Array) -> dict:
        out = self.actor(obs)
        if self.discrete:
            return {"logits": out}
        return {"mean": out, "log_std": jnp.broadcast_to(self.log_std, out.shape)}

    def value(self, obs: jax.Array) -> jax.Array:
        return self.critic(obs)[..., 0]


def make_distribution(dist_params: dict) -> distrax.Distribution:
    """dist_params from `ActorCritic.policy` -> distrax distribution over actions."""
    if "logits" in dist_params:
        return distrax.Categorical(logits=dist_params["logits"])
    return distrax.MultivariateNormalDiag(dist_params["mean"], jnp.exp(dist_params["log_std"]))


def make_network(config, spec) -> ActorCritic:
    return ActorCritic(
        action_dim=spec.action_dim,
        discrete=spec.discrete,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
    )
