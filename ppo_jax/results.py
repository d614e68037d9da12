"""SweepResult: the metrics of a sweep, and tidy (pandas) views of them."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ppo_jax.config import HPARAM_FIELDS, HParams, PPOConfig
from ppo_jax.statistics import bootstrap_ci, final_return


def _metric_column(metric: str) -> str:
    """Frame column of a metric: `learning_rate` -> `learning_rate_at_update` (not the setting)."""
    return metric + "_at_update" if metric in HPARAM_FIELDS else metric


def _setting(config: PPOConfig, key: str) -> Any:
    return getattr(config.hparams, key) if key in HPARAM_FIELDS else getattr(config, key)


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """What `sweep` returns: per-update metrics of every (configuration, seed).

    Attributes:
      configs: per configuration, its full `PPOConfig` (static settings and
        scalar HParams); `train_seeds(configs[i], num_seeds, seed)` reproduces row i.
      settings: per configuration, the settings the grid gave it (dict).
      metrics: dict of float32 [num_configs, num_seeds, num_updates] (the
        `TrainOutput.metrics` keys). When a static field changes num_updates,
        the axis is the longest run's and shorter runs are NaN past their end.
      seed: the integer seed of the sweep.
      num_compiles: compilations this call needed: one per distinct static
        combination, 0 for those already compiled by an earlier call with the
        same population size.
    """

    configs: tuple[PPOConfig, ...]
    settings: tuple[dict, ...]
    metrics: dict[str, np.ndarray]
    seed: int
    num_compiles: int

    @property
    def num_configs(self) -> int:
        return len(self.configs)

    @property
    def num_seeds(self) -> int:
        return self.metrics["episode_return"].shape[1]

    @property
    def keys(self) -> list[str]:
        """The swept settings, in grid order."""
        return list(dict.fromkeys(k for s in self.settings for k in s))

    @property
    def hparams(self) -> HParams:
        """Every configuration's HParams stacked: leaves float32 [num_configs]."""
        return HParams(**{f: np.asarray([getattr(c.hparams, f) for c in self.configs], np.float32)
                          for f in HPARAM_FIELDS})

    def final_returns(self) -> np.ndarray:
        """float64 [num_configs, num_seeds]: each run's final return.

        The final return of a run is the nanmean of `episode_return` over its
        last 10% of updates (at least one update; NaN if no episode ended then).
        """
        return np.stack([final_return(self.metrics["episode_return"][i], cfg.num_updates)
                         for i, cfg in enumerate(self.configs)]).astype(np.float64)

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy frame: one row per (configuration, seed, update).

        Columns: config, seed (index into the sweep's seed keys), update, one
        column per swept setting, then one per metric. Metrics named like an
        HParams field (`learning_rate`, `kl_coef`: their value at that update,
        annealed or adapted) get the suffix `_at_update`, so the setting keeps its name.
        """
        frames = []
        for i, cfg in enumerate(self.configs):
            seeds, updates = np.meshgrid(np.arange(self.num_seeds), np.arange(cfg.num_updates),
                                         indexing="ij")
            n = seeds.size
            columns = {"config": np.full(n, i), "seed": seeds.ravel(), "update": updates.ravel()}
            columns.update({k: [_setting(cfg, k)] * n for k in self.keys})
            columns.update({_metric_column(m): v[i, :, : cfg.num_updates].ravel()
                            for m, v in self.metrics.items()})
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)

    def summary(self, confidence: float = 0.95, num_resamples: int = 10_000) -> pd.DataFrame:
        """Per configuration: mean final return over seeds and its bootstrap CI, best first.

        Final return as in `final_returns` (nanmean of episode_return over the
        last 10% of updates); seeds with no episode in that window are left out
        of the mean. Columns: config, the swept settings, final_return, ci_low, ci_high.
        """
        mean, low, high = bootstrap_ci(self.final_returns().T, confidence, num_resamples)
        frame = pd.DataFrame({"config": np.arange(self.num_configs)})
        for key in self.keys:
            frame[key] = [_setting(cfg, key) for cfg in self.configs]
        frame["final_return"], frame["ci_low"], frame["ci_high"] = mean, low, high
        frame = frame.sort_values("final_return", ascending=False, na_position="last", kind="stable")
        return frame.reset_index(drop=True)

    def best(self) -> PPOConfig:
        """The `PPOConfig` of the configuration with the highest mean final return."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(self.final_returns(), axis=1)
        if np.all(np.isnan(means)):
            raise ValueError(
                "SweepResult.best: no run completed an episode in its last 10% of updates")
        return self.configs[int(np.nanargmax(means))]
