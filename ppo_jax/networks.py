"""Actor-critic networks, and the interface every network implements.

Built in (`PPOConfig.network`): "mlp", separate actor and critic MLPs; "cnn",
the same after a convolutional torso each (image observations); "gru" and
"lstm", an MLP encoder, a recurrent cell and two heads (`RecurrentActorCritic`).
Your own flax module plugs in through `register_network`.

The interface. A feed-forward network is a flax module with
  policy(obs [..., D]) -> dist_params      and      value(obs [..., D]) -> [...]
(`__call__(obs)` returns both; `init` is called with a [1, D] observation).
A recurrent network instead has
  initialize_carry(batch_shape) -> carry   (leaves [*batch_shape, ...]; a plain method, no params)
  unroll(carry, obs [T, B, D], starts [T, B]) -> (carry, dist_params [T, B, ...], value [T, B])
where starts[t, b] says obs[t, b] begins an episode, so the carry is reset to
`initialize_carry` before that step (`__call__` is `unroll`).

The actor returns the *parameters* of the action distribution (a dict of
arrays) so they can be stored in the rollout and the exact KL between old and
new policies computed later; `make_distribution` turns them into a distrax
distribution.
"""

from __future__ import annotations

import contextvars
from typing import Any, Callable, NamedTuple, Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

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


def _matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    """A kernel as the matrix its orthogonal init draws: [prod(all axes but the
    last), last] (flax's `column_axis=-1`): [in, out] for Dense, [kh * kw * in, out] for Conv."""
    return int(np.prod(shape[:-1])), int(shape[-1])


def orthogonal(scale: float = 1.0):
    """Orthogonal initializer for Dense kernels [in, out] and Conv kernels
    [kh, kw, in, out], distributed as `flax.linen.initializers.orthogonal(scale)`
    (Haar; Saxe et al., 2014)."""

    def init(key, shape, dtype=jnp.float32):
        n_rows, n_cols = _matrix_shape(shape)
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q = _orthonormal_columns(jax.random.normal(key, tall, jnp.float32))
        if n_rows < n_cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def orthogonal_kernels(key: jax.Array, shapes: Sequence[tuple], scales: Sequence[float]) -> list:
    """`scale * orthogonal` kernels for several Dense layers from one normal draw.

    Same distribution as `orthogonal(scale)(k, shape)` per layer, but all
    layers share a single [L, R, C] Gaussian draw (layer l uses the tall
    submatrix [:max(shape), :min(shape)] of slice l) and one batched
    Gram-Schmidt loop. Initialising the network layer by layer compiles one
    random-number kernel and one loop per layer; this compiles one of each,
    which takes about 1.5 s off compiling a train function on CPU.
    """
    talls = [(max(_matrix_shape(s)), min(_matrix_shape(s))) for s in shapes]
    num_rows = max(t[0] for t in talls)
    num_cols = max(t[1] for t in talls)
    gaussian = jax.random.normal(key, (len(shapes), num_rows, num_cols), jnp.float32)
    row_mask = np.zeros((len(shapes), num_rows, 1), np.float32)
    col_count = np.array([t[1] for t in talls], np.int32)
    for i, (rows, _) in enumerate(talls):
        row_mask[i, :rows] = 1.0
    gaussian = gaussian * row_mask  # padding rows are 0 and stay 0 in q

    # The same loop as `_orthonormal_columns`, written batched: its jax.vmap
    # (with padded columns masked) compiled 0.2 s slower in an A/B run.
    def add_column(j, q):
        v = jax.lax.dynamic_index_in_dim(gaussian, j, axis=2, keepdims=False)  # [L, R]
        for _ in range(2):
            v = v - jnp.einsum("lrc,lc->lr", q, jnp.einsum("lrc,lr->lc", q, v))
        norm = jnp.linalg.norm(v, axis=1, keepdims=True)
        # Layers with fewer columns than j + 1 keep a zero column (and no 0 / 0).
        column = jnp.where(j < col_count[:, None], v / jnp.where(norm > 0, norm, 1.0), 0.0)
        return jax.lax.dynamic_update_index_in_dim(q, column, j, axis=2)

    q = jax.lax.fori_loop(0, num_cols, add_column, jnp.zeros_like(gaussian))
    kernels = []
    for i, (shape, scale, (rows, cols)) in enumerate(zip(shapes, scales, talls)):
        tall = q[i, :rows, :cols]
        n_rows, n_cols = _matrix_shape(shape)
        kernel = tall.T if n_rows < n_cols else tall
        kernels.append((scale * kernel).reshape(shape))
    return kernels


@struct.dataclass
class OrthogonalKernel(nn.meta.AxisMetadata):
    """A Dense kernel boxed with the gain its orthogonal initializer used.

    `network.init` returns these boxes (flax unboxes them when a module reads
    its params, and `flax.linen.unbox` strips them), so the gain of every
    kernel is read off the module definition itself: `init_params` never has
    to guess it from a layer's name or position.
    """

    value: Any
    gain: float = struct.field(pytree_node=False)

    def unbox(self):
        return self.value

    def replace_boxed(self, val):
        return self.replace(value=val)

    def add_axis(self, index, params):
        return self

    def remove_axis(self, index, params):
        return self


# Set while `init_params` traces `network.init`: kernels are then zero-valued
# boxes (shape and gain only) that it fills from one batched draw.
_DEFER_KERNELS: contextvars.ContextVar[bool] = contextvars.ContextVar("defer_kernels", default=False)


def orthogonal_kernel_init(gain: float):
    """Kernel initializer of every Dense layer here: `orthogonal(gain)`, boxed
    in an `OrthogonalKernel` that records `gain`."""
    gain = float(gain)

    def init(key, shape, dtype=jnp.float32):
        if _DEFER_KERNELS.get():
            return OrthogonalKernel(jnp.zeros(shape, dtype), gain)
        return OrthogonalKernel(orthogonal(gain)(key, shape, dtype), gain)

    return init


def layer_gains(num_hidden: int, out_gain: float) -> tuple[float, ...]:
    """Orthogonal-init gains of an MLP's Dense layers: sqrt 2 hidden, `out_gain` last."""
    return (float(np.sqrt(2.0)),) * num_hidden + (float(out_gain),)


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
        if not self.discrete:
            self.log_std = self.param("log_std", nn.initializers.zeros, (self.policy_dim,))

    def __call__(self, obs: jax.Array) -> tuple[dict, jax.Array]:
        return self.policy(obs), self.value(obs)

    def policy(self, obs: jax.Array) -> dict:
        out = self.actor(obs if self.obs_shape is None else self.actor_torso(obs))
        if self.discrete:
            return {"logits": out}
        return {"mean": out, "log_std": jnp.broadcast_to(self.log_std, out.shape)}

    def value(self, obs: jax.Array) -> jax.Array:
        return self.critic(obs if self.obs_shape is None else self.critic_torso(obs))[..., 0]


def block_orthogonal(num_blocks: int):
    """Initializer of a recurrent kernel [H, num_blocks * H]: one orthogonal [H, H]
    block per gate, as flax's cells draw each gate's recurrent Dense."""

    def init(key, shape, dtype=jnp.float32):
        size = shape[0]
        keys = jax.random.split(key, num_blocks)
        return jnp.concatenate([orthogonal()(k, (size, size), dtype) for k in keys], axis=-1)

    return init


def reset_where(starts: jax.Array, carry, initial):
    """carry with rows b where starts[b] replaced by `initial` (leaves [B, ...])."""
    return jax.tree.map(lambda c, c0: jnp.where(starts.reshape(starts.shape + (1,) * (c.ndim - 1)),
                                                c0, c), carry, initial)


class GRU(nn.Module):
    """A GRU layer run over a sequence, resetting at episode starts.

    The cell is flax's `GRUCell` (Cho et al., 2014; tested equal to it), with the
    three gates' kernels concatenated: the input projection of all T steps is one
    matmul before the time loop, leaving one [B, H] x [H, 3H] matmul per step.
    The loop is not unrolled: on CPU, unrolling 8, 16 or 32 steps per iteration
    ran a CartPole GRU training 10%, 32% and 75% slower.
    """

    size: int

    def initialize_carry(self, batch_shape: tuple) -> jax.Array:
        return jnp.zeros(tuple(batch_shape) + (self.size,), jnp.float32)

    @nn.compact
    def __call__(self, carry: jax.Array, inputs: jax.Array, starts: jax.Array):
        """carry [B, H], inputs [T, B, F], starts bool [T, B] -> (carry [B, H], outputs [T, B, H])."""
        h = self.size
        input_kernel = self.param("input_kernel", nn.initializers.lecun_normal(), (inputs.shape[-1], 3 * h))
        input_bias = self.param("input_bias", nn.initializers.zeros, (3 * h,))
        recurrent_kernel = self.param("recurrent_kernel", block_orthogonal(3), (h, 3 * h))
        candidate_bias = self.param("candidate_bias", nn.initializers.zeros, (h,))
        projected = inputs @ input_kernel + input_bias  # [T, B, 3H]: r, z, n
        initial = self.initialize_carry(starts.shape[1:])

        def step(state, xs):
            x, start = xs
            state = reset_where(start, state, initial)
            hp = state @ recurrent_kernel
            r = nn.sigmoid(x[..., :h] + hp[..., :h])
            z = nn.sigmoid(x[..., h:2 * h] + hp[..., h:2 * h])
            n = jnp.tanh(x[..., 2 * h:] + r * (hp[..., 2 * h:] + candidate_bias))
            state = (1.0 - z) * n + z * state
            return state, state

        return jax.lax.scan(step, carry, (projected, starts))


class LSTM(nn.Module):
    """An LSTM layer run over a sequence, resetting at episode starts.

    The cell is flax's `LSTMCell` (Hochreiter & Schmidhuber, 1997; tested equal
    to it), gates i, f, g, o concatenated; the carry is (c, h). As in `GRU`, the
    input projection of all T steps is one matmul before the time loop.
    """

    size: int

    def initialize_carry(self, batch_shape: tuple) -> tuple[jax.Array, jax.Array]:
        zeros = jnp.zeros(tuple(batch_shape) + (self.size,), jnp.float32)
        return zeros, zeros

    @nn.compact
    def __call__(self, carry, inputs: jax.Array, starts: jax.Array):
        """carry ([B, H], [B, H]), inputs [T, B, F], starts [T, B] -> (carry, outputs [T, B, H])."""
        h = self.size
        input_kernel = self.param("input_kernel", nn.initializers.lecun_normal(), (inputs.shape[-1], 4 * h))
        recurrent_kernel = self.param("recurrent_kernel", block_orthogonal(4), (h, 4 * h))
        bias = self.param("bias", nn.initializers.zeros, (4 * h,))
        projected = inputs @ input_kernel + bias  # [T, B, 4H]: i, f, g, o
        initial = self.initialize_carry(starts.shape[1:])

        def step(state, xs):
            x, start = xs
            c, hidden = reset_where(start, state, initial)
            gates = x + hidden @ recurrent_kernel
            i, f, g, o = (gates[..., k * h:(k + 1) * h] for k in range(4))
            c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
            hidden = nn.sigmoid(o) * jnp.tanh(c)
            return (c, hidden), hidden

        return jax.lax.scan(step, carry, (projected, starts))


CELLS = {"gru": GRU, "lstm": LSTM}


class RecurrentActorCritic(nn.Module):
    """obs -> MLP encoder -> GRU or LSTM -> separate actor and critic heads.

    The recurrent torso is shared by actor and critic: the time loop is the
    sequential, expensive part of both the rollout and the update, and one loop
    instead of two halves that cost; the value loss also gives the memory a
    dense learning signal (PureJaxRL's ppo_rnn shares it too). The heads are
    separate one-hidden-layer MLPs of width hidden_sizes[-1].

    encoder: Dense layers `hidden_sizes` with `activation`; cell_size: the
    recurrent state's width H. dist_params as in `ActorCritic`.
    """

    policy_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (128,)
    activation: str = "relu"
    cell: str = "gru"
    cell_size: int = 128

    ACTOR_OUT_GAIN = ActorCritic.ACTOR_OUT_GAIN
    CRITIC_OUT_GAIN = ActorCritic.CRITIC_OUT_GAIN

    def setup(self):
        self.encoder = MLPLayers(self.hidden_sizes, self.activation)
        self.core = CELLS[self.cell](self.cell_size)
        head = (self.hidden_sizes[-1],)
        self.actor = MLP(head, self.activation, self.policy_dim, self.ACTOR_OUT_GAIN)
        self.critic = MLP(head, self.activation, 1, self.CRITIC_OUT_GAIN)
        if not self.discrete:
            self.log_std = self.param("log_std", nn.initializers.zeros, (self.policy_dim,))

    def initialize_carry(self, batch_shape: tuple = ()):
        """The carry of a fresh episode: zeros, [*batch_shape, H] (an LSTM: a pair of them)."""
        zeros = jnp.zeros(tuple(batch_shape) + (self.cell_size,), jnp.float32)
        return (zeros, zeros) if self.cell == "lstm" else zeros

    def __call__(self, carry, obs: jax.Array, starts: jax.Array):
        return self.unroll(carry, obs, starts)

    def unroll(self, carry, obs: jax.Array, starts: jax.Array):
        """carry [B, ...], obs [T, B, D], starts bool [T, B] -> (carry, dist_params [T, B, ...], value [T, B])."""
        carry, outputs = self.core(carry, self.encoder(obs), starts)
        out = self.actor(outputs)
        if self.discrete:
            dist_params = {"logits": out}
        else:
            dist_params = {"mean": out, "log_std": jnp.broadcast_to(self.log_std, out.shape)}
        return carry, dist_params, self.critic(outputs)[..., 0]


def _is_orthogonal_kernel(x) -> bool:
    return isinstance(x, OrthogonalKernel)


def init_params(network: nn.Module, key: jax.Array, obs_dim: int):
    """Parameters for `network`, distributed as `flax.linen.unbox(network.init(key, obs))`.

    Every leaf but the orthogonal kernels comes from its own initializer in
    `network.init`; the kernels (found by their `OrthogonalKernel` box, which
    carries the gain the module gave them) all come from one
    `orthogonal_kernels` call, which is much cheaper to compile than flax's
    layer-by-layer init.
    """
    init_key, kernel_key = jax.random.split(key)
    token = _DEFER_KERNELS.set(True)
    try:
        if is_recurrent(network):
            boxed = network.init(init_key, network.initialize_carry((1,)),
                                 jnp.zeros((1, 1, obs_dim), jnp.float32), jnp.ones((1, 1), bool),
                                 method="unroll")
        else:
            boxed = network.init(init_key, jnp.zeros((1, obs_dim), jnp.float32))
    finally:
        _DEFER_KERNELS.reset(token)
    leaves, treedef = jax.tree.flatten(boxed, is_leaf=_is_orthogonal_kernel)
    slots = [i for i, leaf in enumerate(leaves) if _is_orthogonal_kernel(leaf)]
    if not slots:  # a registered module with initializers of its own
        return nn.unbox(boxed)
    kernels = orthogonal_kernels(kernel_key, [leaves[i].value.shape for i in slots],
                                 [leaves[i].gain for i in slots])
    for slot, kernel in zip(slots, kernels):
        leaves[slot] = kernel.astype(leaves[slot].value.dtype)
    return nn.unbox(jax.tree.unflatten(treedef, leaves))


def make_distribution(dist_params: dict) -> distrax.Distribution:
    """dist_params from `ActorCritic.policy` -> distrax distribution over actions."""
    if "logits" in dist_params:
        return distrax.Categorical(logits=dist_params["logits"])
    return distrax.MultivariateNormalDiag(dist_params["mean"], jnp.exp(dist_params["log_std"]))


def draw_policy_noise(key: jax.Array, shape: tuple, discrete: bool) -> jax.Array:
    """Noise for `sample_from_noise`, float32 `shape` (= [..., policy_dim]):
    standard Gumbel for Categorical policies, standard normal for Gaussian ones."""
    if discrete:
        return jax.random.gumbel(key, shape, jnp.float32)
    return jax.random.normal(key, shape, jnp.float32)


def sample_from_noise(dist_params: dict, noise: jax.Array) -> jax.Array:
    """An action distributed as `make_distribution(dist_params).sample()`, from
    pre-drawn `draw_policy_noise` noise: argmax(logits + Gumbel) (the Gumbel-max
    trick, as `jax.random.categorical`), or mean + std * normal.

    Drawing a whole rollout's noise in one call keeps random-number kernels
    out of the per-step scan body.
    """
    if "logits" in dist_params:
        return jnp.argmax(dist_params["logits"] + noise, axis=-1)
    return dist_params["mean"] + jnp.exp(dist_params["log_std"]) * noise


def greedy_action(dist_params: dict) -> jax.Array:
    """The deterministic policy's action: argmax of the logits, or the Gaussian mean."""
    if "logits" in dist_params:
        return jnp.argmax(dist_params["logits"], axis=-1)
    return dist_params["mean"]


def is_recurrent(network: nn.Module) -> bool:
    """Whether `network` follows the recurrent interface (`unroll`, `initialize_carry`)."""
    return hasattr(network, "unroll")


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

    Example:
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
