"""Tidy (pandas) frames of per-update metrics: one row per (seed, update)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ppo_jax.config.hparams import HPARAM_FIELDS
from ppo_jax.core.iteration import METRIC_NAMES


def update_numbers(num_updates: int) -> np.ndarray:
    """The `update` column of every tidy frame: 1, 2, ..., num_updates.

    Updates count from 1 everywhere (frames, the CLI's metrics.csv, progress
    reports): update u is the u-th update, after which an agent has taken
    `u * batch_size` env steps (its `timesteps` metric).
    """
    return np.arange(1, num_updates + 1)


def metric_order(names) -> list[str]:
    """Metric names in `METRIC_NAMES` order, then any others sorted."""
    return [k for k in METRIC_NAMES if k in names] + sorted(k for k in names if k not in METRIC_NAMES)


def tidy_metrics(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per-update metrics of one agent or of seeds -> a tidy frame.

    Args:
      metrics: dict of arrays [num_updates] (one agent) or [num_seeds, num_updates].

    Returns:
      One row per (seed, update): columns `seed` (only for [num_seeds,
      num_updates]), `update` (from 1, see `update_numbers`), then one per metric.
    """
    arrays = {k: np.asarray(v) for k, v in metrics.items()}
    shapes = {v.shape for v in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) not in (1, 2):
        raise ValueError(
            "tidy_metrics: metrics must all be [num_updates] or all [num_seeds, num_updates], got "
            f"shapes {sorted(shapes)}; index a population with more axes first (a sweep's "
            "SweepResult.to_dataframe handles [num_configs, num_seeds, num_updates])")
    shape = next(iter(shapes))
    num_seeds, num_updates = (1, shape[0]) if len(shape) == 1 else shape
    columns = {} if len(shape) == 1 else {"seed": np.repeat(np.arange(num_seeds), num_updates)}
    columns["update"] = np.tile(update_numbers(num_updates), num_seeds)
    columns.update({k: arrays[k].ravel() for k in metric_order(arrays)})
    return pd.DataFrame(columns)


def metric_column(metric: str) -> str:
    """Frame column of a metric: `learning_rate` -> `learning_rate_at_update` (not the setting)."""
    return metric + "_at_update" if metric in HPARAM_FIELDS else metric
