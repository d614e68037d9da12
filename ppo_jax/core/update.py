"""The PPO update: update_epochs passes of shuffled minibatch Adam steps."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from ppo_jax.core.loss import LossOptions, ppo_loss
from ppo_jax.core.types import Batch


def make_optimizer(max_grad_norm) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (eps 1e-5) without the step size.

    The (traced, possibly annealed) learning rate is applied by the caller, so
    a grid over learning rates or grad norms needs no recompile.
    """
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.scale_by_adam(eps=1e-5))


def init_optimizer_state(params, max_grad_norm):
    """Optimizer state over the params raveled into one vector.

    One flat vector instead of a tree of small leaves makes clipping and Adam a
    handful of kernels per minibatch step rather than a few per leaf.
    """
    return make_optimizer(max_grad_norm).init(ravel_pytree(params)[0])


@struct.dataclass
class MinibatchCarry:
    """Scan carry over minibatches (and epochs). `stopped`: early stop hit."""

    params: object
    opt_state: object
    stopped: jax.Array


@struct.dataclass
class EpochCarry:
    """The carry of one epoch's scan: the minibatch carry and the key that shuffles the next epoch."""

    minibatch: MinibatchCarry
    key: jax.Array


@struct.dataclass
class UpdateSettings:
    """What a minibatch step needs besides its carry (traced values included)."""

    hparams: object
    learning_rate: jax.Array
    kl_coef: jax.Array


def minibatch_step(
    carry: MinibatchCarry,
    minibatch: Batch,
    *,
    apply_fn: Callable,
    settings: UpdateSettings,
    options: LossOptions,
    early_stop: bool,
) -> tuple[MinibatchCarry, dict]:
    """One Adam step on one minibatch; metrics are those before the step."""
    hp = settings.hparams
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
    (_, metrics), grads = grad_fn(carry.params, apply_fn, minibatch, hp, settings.kl_coef, options)
    flat_grads, unravel = ravel_pytree(grads)
    flat_updates, opt_state = make_optimizer(hp.max_grad_norm).update(flat_grads, carry.opt_state)
    updates = unravel(flat_updates)
    metrics["grad_norm"] = jnp.sqrt(jnp.sum(flat_grads**2))
    params = jax.tree.map(lambda p, u: p - settings.learning_rate * u, carry.params, updates)

    skip = jnp.asarray(False)
    if early_stop:
        skip = carry.stopped | (metrics["approx_kl"] > hp.early_stop_kl)
        params, opt_state = jax.tree.map(
            lambda old, new: jnp.where(skip, old, new),
            (carry.params, carry.opt_state),
            (params, opt_state),
        )
    metrics["skipped"] = skip.astype(jnp.float32)
    return MinibatchCarry(params, opt_state, skip), metrics


# Random bits left beside the index in a packed uint32 sort key; below this the
# ties (broken by index) would bias the shuffle, so a full permutation is used.
_MIN_RANDOM_BITS = 20


def random_permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random permutation of range(n), int32 [n].

    For n <= 2**12 it sorts one uint32 array whose high bits are random and
    whose low bits hold the index: a single-operand sort, about 3x cheaper on
    CPU than `jax.random.permutation`'s key-value sorts. Ties among the >= 20
    random bits (probability < n**2 / 2**21) are broken by index.
    """
    index_bits = max(1, (n - 1).bit_length())
    if 32 - index_bits < _MIN_RANDOM_BITS:
        return jax.random.permutation(key, n)
    index = jnp.arange(n, dtype=jnp.uint32)
    random_high = jax.random.bits(key, (n,), jnp.uint32) >> index_bits << index_bits
    return (jnp.sort(random_high | index) & ((1 << index_bits) - 1)).astype(jnp.int32)


def shuffle_into_minibatches(key: jax.Array, batch: Batch, num_minibatches: int, groups: int = 1) -> Batch:
    """Permutes a batch [N, ...] and splits it: leaves [num_minibatches, N / num_minibatches, ...].

    With `groups` G > 1 (`PPOConfig.data_parallel`) the batch is group-major (rows
    g * N / G ... (g + 1) * N / G - 1 are group g's): each group's rows are permuted
    within the group (group g with the g-th of `jax.random.split(key, G)`), and
    minibatch m is group 0's m-th share, then group 1's, and so on, N / (G M) rows each.
    """
    n = batch.obs.shape[0]
    if groups == 1:
        perm = random_permutation(key, n)
        return jax.tree.map(
            lambda x: jnp.take(x, perm, axis=0).reshape((num_minibatches, n // num_minibatches) + x.shape[1:]),
            batch,
        )
    per_group = n // groups
    share = per_group // num_minibatches
    perms = jax.vmap(random_permutation, in_axes=(0, None))(jax.random.split(key, groups), per_group)

    def split(x):  # [N, ...] -> [G, N / G, ...] -> permuted in-group -> [M, G * share, ...]
        x = x.reshape((groups, per_group) + x.shape[1:])
        x = jax.vmap(lambda rows, perm: jnp.take(rows, perm, axis=0))(x, perms)
        x = jnp.swapaxes(x.reshape((groups, num_minibatches, share) + x.shape[2:]), 0, 1)
        return x.reshape((num_minibatches, groups * share) + x.shape[3:])

    return jax.tree.map(split, batch)


def epoch_step(carry: EpochCarry, _, *, batch: Batch, num_minibatches: int, minibatch_body,
               groups: int = 1, place=None) -> tuple:
    """One epoch (the body of `update_policy`'s scan): reshuffles `batch`, then scans the minibatches.

    Args:
      carry: the params, optimizer state, early-stop flag and the epoch's key.
      _: unused (the scan runs over no inputs).
      batch: the whole update's batch, leaves [N, ...].
      num_minibatches: how many minibatches to split it into.
      minibatch_body: `minibatch_step` with its keyword arguments bound.
      groups: the batch's groups (`shuffle_into_minibatches`).
      place: tree, axis -> tree, keeping the group-major axis `axis` on its groups'
        devices (`AgentContext.place`); None: no placement.

    Returns:
      (the carry after the epoch, with a fresh key; metrics, leaves [num_minibatches]).
    """
    key, perm_key = jax.random.split(carry.key)
    minibatches = shuffle_into_minibatches(perm_key, batch, num_minibatches, groups)
    if place is not None:
        minibatches = place(minibatches, 1)
    mb_carry, metrics = jax.lax.scan(minibatch_body, carry.minibatch, minibatches)
    return EpochCarry(mb_carry, key), metrics


def update_policy(
    params,
    opt_state,
    batch: Batch,
    key: jax.Array,
    *,
    apply_fn: Callable,
    settings: UpdateSettings,
    options: LossOptions,
    update_epochs: int,
    num_minibatches: int,
    early_stop: bool,
    groups: int = 1,
    place=None,
) -> tuple[object, object, dict]:
    """Runs update_epochs x num_minibatches steps on `batch` (leaves [N, ...], group-major
    with `groups` > 1: see `shuffle_into_minibatches`; `place` as in `epoch_step`).

    Returns (params, opt_state, metrics); metrics are means over the minibatch
    steps that ran, plus `early_stopped`, the fraction skipped.
    """
    minibatch_body = functools.partial(
        minibatch_step, apply_fn=apply_fn, settings=settings, options=options, early_stop=early_stop
    )
    body = functools.partial(
        epoch_step, batch=batch, num_minibatches=num_minibatches, minibatch_body=minibatch_body,
        groups=groups, place=place,
    )
    init = EpochCarry(MinibatchCarry(params, opt_state, jnp.asarray(False)), key)
    final, metrics = jax.lax.scan(body, init, None, length=update_epochs)
    ran = 1.0 - metrics.pop("skipped")  # [epochs, minibatches]
    weight = ran / jnp.maximum(ran.sum(), 1.0)
    means = {k: jnp.sum(v * weight) for k, v in metrics.items()}
    means["early_stopped"] = 1.0 - ran.mean()
    return final.minibatch.params, final.minibatch.opt_state, means
