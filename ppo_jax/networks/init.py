"""Orthogonal initialisation, and parameters for any network (`init_params`)."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ppo_jax.networks.interface import is_recurrent


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
