"""`TrainOutput`: what `train` returns, with host-side views (final return, tidy frame)."""

from __future__ import annotations

import math
import warnings

import jax
import numpy as np
import pandas as pd  # noqa: F401  (to_dataframe's return type)
from flax import struct

from ppo_jax.analysis.frames import metric_order, tidy_metrics
from ppo_jax.analysis.statistics import FINAL_RETURN_DEFINITION, final_return
from ppo_jax.core.types import TrainState


@struct.dataclass
class TrainOutput:
    """Result of `train`: final state and per-update metrics (dict of [num_updates]).

    Under `jax.vmap` (e.g. `train_seeds`) every leaf gains leading batch axes:
    metrics [num_seeds, num_updates]. A pytree (two fields); the methods below
    read it on the host and are not meant for use inside `jit`.
    """

    state: TrainState
    metrics: dict

    def final_return(self) -> np.ndarray:
        """float [batch shape]: each agent's final return (`ppo_jax.analysis.statistics.final_return`:
        the mean episode_return over the last 10% of updates; -inf for an agent that diverged)."""
        return final_return(self.metrics["episode_return"], diverged=self.metrics.get("diverged"))

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy pandas frame: one row per (seed, update), `update` counted from 1.

        Columns: `seed` (for a [num_seeds] population; absent for one agent),
        `update`, then one per metric: the frame the CLI writes as metrics.csv.
        """
        return tidy_metrics(self.metrics)

    def __repr__(self) -> str:
        """A few lines (not every array): population shape, updates, metric names, final return."""
        return describe_train_output(self)


def describe_divergence(diverged: np.ndarray) -> str:
    """'2 of 8 agents (seeds [3, 5]) diverged (non-finite params or losses), first at update 17'."""
    per_run = np.atleast_2d(diverged.reshape((-1, diverged.shape[-1])) > 0)
    bad = np.flatnonzero(per_run.any(axis=-1))
    first = int(np.argmax(per_run[bad].any(axis=0))) + 1
    which = f" (agents {bad.tolist()})" if per_run.shape[0] > 1 else ""
    return (f"{bad.size} of {per_run.shape[0]} agent(s){which} diverged (non-finite params or "
            f"losses), first at update {first}")


def describe_train_output(out: TrainOutput) -> str:
    """`TrainOutput.__repr__`: shapes always; the final return when the values are concrete."""
    metrics = out.metrics if isinstance(out.metrics, dict) else {}
    returns = metrics.get("episode_return")
    if returns is None or not hasattr(returns, "shape") or len(returns.shape) == 0:
        return f"TrainOutput(state={type(out.state).__name__}, metrics: {', '.join(map(str, metrics))})"
    *batch, num_updates = returns.shape
    agents = {0: "one agent", 1: f"{math.prod(batch)} agents"}.get(
        len(batch), f"{math.prod(batch)} agents (batch shape {tuple(batch)})")
    lines = [f"TrainOutput({agents} x {num_updates} updates",
             f"  metrics: [{', '.join(map(str, returns.shape))}] each: {', '.join(metric_order(metrics))}"]
    if not isinstance(returns, jax.core.Tracer):  # values exist only outside a trace
        diverged = metrics.get("diverged")
        final = np.atleast_1d(final_return(returns, diverged=diverged))
        steps = np.max(np.asarray(metrics["timesteps"])) if "timesteps" in metrics else None
        if steps is not None:
            lines.append(f"  env steps per agent: {int(steps):,}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # every agent NaN
            summary = (f"{np.nanmean(final):.4g}" if final.size == 1 else
                       f"mean {np.nanmean(final):.4g}, min {np.nanmin(final):.4g}, "
                       f"max {np.nanmax(final):.4g} over agents")
        lines.append(f"  final return: {summary} ({FINAL_RETURN_DEFINITION})")
        if diverged is not None and np.any(np.asarray(diverged) > 0):
            lines.append(f"  DIVERGED: {describe_divergence(np.asarray(diverged))}")
    lines.append(f"  state: {type(out.state).__name__} (params, optimizer, normalizers, env states, key))")
    return "\n".join(lines)
