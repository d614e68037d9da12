"""`HParams`: the traced hyperparameters (a pytree), their bounds and checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.util.checks import is_real

HParamValue = float | jax.Array | np.ndarray
"""A hyperparameter: a Python or numpy float (or int), or an array (a batch of values);
a tracer inside jit/vmap."""


@dataclasses.dataclass(frozen=True)
class HParams:
    """Traced hyperparameters: every field may be a scalar or a batched array.

    A pytree (its fields are the leaves), so a grid over any field is one
    vmapped computation. Built with concrete values (`HParams(gamma=5.0)`,
    `.replace(...)`), it is checked at once by `validate_hparams`, the check
    `PPOConfig` uses: a string, a bool or an out-of-range value raises a
    ValueError naming the field and its valid range. Tracers are not checked
    (their values are checked where they come from), and neither is an
    `HParams` with a None field, which is a `jax.vmap` `in_axes` spec rather
    than hyperparameters. JAX rebuilding the pytree (`jax.tree.map`, jit,
    vmap, grad) skips the check; `train`, `Trainer.init` and `Trainer.run`
    check concrete values again before compiling.

    Attributes:
      learning_rate: Adam step size (start value when `anneal_lr`).
      gamma: discount factor, in [0, 1].
      gae_lambda: GAE lambda, in [0, 1].
      clip_eps: PPO clip range epsilon (policy ratio and, if enabled, value).
      ent_coef: entropy bonus coefficient.
      vf_coef: value loss coefficient.
      max_grad_norm: global-norm gradient clipping threshold.
      kl_coef: KL penalty beta (start value for `"adaptive_kl"`).
      kl_target: d_targ of the adaptive KL rule.
      dual_clip_coef: c of dual-clip PPO (> 1).
      early_stop_kl: approximate KL past which the rest of an update is skipped.
    """

    learning_rate: HParamValue = 2.5e-4
    gamma: HParamValue = 0.99
    gae_lambda: HParamValue = 0.95
    clip_eps: HParamValue = 0.2
    ent_coef: HParamValue = 0.01
    vf_coef: HParamValue = 0.5
    max_grad_norm: HParamValue = 0.5
    kl_coef: HParamValue = 1.0
    kl_target: HParamValue = 0.01
    dual_clip_coef: HParamValue = 3.0
    early_stop_kl: HParamValue = 0.02

    def __post_init__(self):
        if any(getattr(self, name) is None for name in HPARAM_FIELDS):
            return  # an in_axes spec such as HParams(learning_rate=0, gamma=None, ...)
        validate_hparams(self)

    def replace(self, **changes: Any) -> HParams:
        """A copy with some fields changed (checked like a new `HParams`)."""
        return dataclasses.replace(self, **changes)


HPARAM_FIELDS = tuple(f.name for f in dataclasses.fields(HParams))


def _flatten_hparams(hparams: HParams):
    return [(jax.tree_util.GetAttrKey(name), getattr(hparams, name)) for name in HPARAM_FIELDS], None


def _unflatten_hparams(_, leaves) -> HParams:
    """Rebuilds without __init__: JAX fills pytrees with tracers, placeholders,
    gradients or axis numbers that are not hyperparameter values."""
    hparams = object.__new__(HParams)
    for name, leaf in zip(HPARAM_FIELDS, leaves):
        object.__setattr__(hparams, name, leaf)
    return hparams


jax.tree_util.register_pytree_with_keys(HParams, _flatten_hparams, _unflatten_hparams)

# (lower, upper, lower inclusive, upper inclusive); None = unbounded.
_HPARAM_BOUNDS = {
    "learning_rate": (0.0, None, False, True),
    "gamma": (0.0, 1.0, True, True),
    "gae_lambda": (0.0, 1.0, True, True),
    "clip_eps": (0.0, None, False, True),
    "ent_coef": (0.0, None, True, True),
    "vf_coef": (0.0, None, True, True),
    "max_grad_norm": (0.0, None, False, True),
    "kl_coef": (0.0, None, True, True),
    "kl_target": (0.0, None, False, True),
    "dual_clip_coef": (1.0, None, False, True),
    "early_stop_kl": (0.0, None, False, True),
}


def _describe_bounds(lo, hi, lo_inc, hi_inc) -> str:
    left = "[" if lo_inc else "("
    right = "]" if hi_inc else ")"
    return f"{left}{lo}, {'inf' if hi is None else hi}{right}"


def _concrete_numbers(name: str, value: Any) -> np.ndarray | None:
    """`value` as a float64 array; None when it has no value to check before
    tracing (a tracer, an array spread over other processes, a placeholder).

    Raises ValueError for what is concrete but not a number: strings, bools
    (True is not a learning rate), lists, arrays of another dtype.
    """
    if isinstance(value, (str, bytes, bool, np.bool_)) or type(value) in (list, tuple):
        hint = " (a batch of values is an array: jnp.asarray([...]))" if isinstance(
            value, (list, tuple)) else ""
        raise ValueError(
            f"HParams.{name} must be a number, got {value!r} ({type(value).__name__}){hint}")
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return None
    if not (is_real(value) or isinstance(value, (np.ndarray, np.generic, jax.Array))):
        return None
    arr = np.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.integer) or jnp.issubdtype(arr.dtype, jnp.floating)):
        raise ValueError(f"HParams.{name} must be a number, got an array of dtype {arr.dtype}")
    return arr.astype(np.float64)


def validate_hparams(hparams: HParams) -> None:
    """Raises ValueError naming the first field whose value is not a number in range.

    The one check of hyperparameter values: `HParams` construction,
    `PPOConfig`, `train`, `Trainer.init`/`run` and `train_seeds` all call it.
    Works on scalars and on batched (grid) values; every element is checked.
    Traced values (inside jit or vmap) cannot be checked and are skipped.
    """
    if not isinstance(hparams, HParams):
        raise TypeError(f"hparams must be a ppo_jax.HParams, got {type(hparams).__name__}")
    for name, (lo, hi, lo_inc, hi_inc) in _HPARAM_BOUNDS.items():
        arr = _concrete_numbers(name, getattr(hparams, name))
        if arr is None:
            continue
        ok = np.isfinite(arr)
        ok &= (arr >= lo) if lo_inc else (arr > lo)
        if hi is not None:
            ok &= (arr <= hi) if hi_inc else (arr < hi)
        if not np.all(ok):
            bad = arr[~ok] if arr.ndim else arr
            raise ValueError(
                f"HParams.{name} must be in {_describe_bounds(lo, hi, lo_inc, hi_inc)}, "
                f"got {float(np.ravel(bad)[0])!r}"
            )
