"""SweepResult: the metrics of a sweep, and tidy (pandas) views of them."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ppo_jax.analysis.frames import metric_column, update_numbers
from ppo_jax.analysis.statistics import (
    FINAL_FRACTION,
    FINAL_RETURN_DEFINITION,
    bootstrap_ci,
    diverged_runs,
    final_return,
)
from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams
from ppo_jax.util.checks import is_real


def _setting(config: PPOConfig, key: str) -> Any:
    return getattr(config.hparams, key) if key in HPARAM_FIELDS else getattr(config, key)


def _format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _describe_values(values: list, listed: int = 6) -> str:
    """A swept key's values: all of them when few, else their count and range."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if len(distinct) <= listed:
        return ", ".join(_format_value(v) for v in distinct)
    if all(is_real(v) for v in distinct):
        return f"{len(distinct)} values in [{_format_value(min(distinct))}, {_format_value(max(distinct))}]"
    return f"{len(distinct)} values: " + ", ".join(_format_value(v) for v in distinct[:listed]) + ", ..."


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

    def __repr__(self) -> str:
        """A few lines for a notebook: shapes, swept keys and values, metric names, the best."""
        shape = self.metrics["episode_return"].shape
        lengths = sorted({cfg.num_updates for cfg in self.configs})
        updates = f"{lengths[0]} updates" if len(lengths) == 1 else f"{lengths[0]} to {lengths[-1]} updates"
        swept = [f"    {key}: {_describe_values([s.get(key) for s in self.settings])}" for key in self.keys]
        return "\n".join([
            f"SweepResult({self.configs[0].env}: {self.num_configs} configurations x {self.num_seeds} "
            f"seeds x {updates}, seed {self.seed}, {self.num_compiles} compile(s)",
            "  swept:",
            *swept,
            f"  metrics: float32 {list(shape)} each: {', '.join(self.metrics)}",
            f"  best: {self._describe_best()}",
            "  .summary(): every configuration ranked; .configs[i]: its PPOConfig; .to_dataframe(): tidy)",
        ])

    def _describe_best(self) -> str:
        try:
            i, means = self._best_index()
        except ValueError as err:
            return f"none ({str(err).split(': ', 1)[1]})"
        settings = ", ".join(f"{k}={_format_value(v)}" for k, v in self.settings[i].items())
        return (f"configuration {i} ({settings}): final return {means[i]:.4g} (mean over seeds; "
                f"final return = {FINAL_RETURN_DEFINITION})")

    @property
    def num_configs(self) -> int:
        """Configurations in the sweep (`len(configs)`)."""
        return len(self.configs)

    @property
    def num_seeds(self) -> int:
        """Seeds per configuration (axis 1 of the metrics)."""
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

        As `ppo_jax.analysis.statistics.final_return` defines it: the nanmean of
        `episode_return` over the run's last 10% of updates (at least one
        update; NaN if no episode ended then), and -inf for a run that
        diverged (see `diverged`).
        """
        diverged = self.metrics.get("diverged")
        return np.stack([
            final_return(self.metrics["episode_return"][i], cfg.num_updates,
                         None if diverged is None else diverged[i])
            for i, cfg in enumerate(self.configs)]).astype(np.float64)

    def diverged(self) -> np.ndarray:
        """bool [num_configs, num_seeds]: runs whose params or losses became non-finite."""
        if "diverged" not in self.metrics:
            return np.zeros(self.metrics["episode_return"].shape[:2], bool)
        return np.stack([diverged_runs(self.metrics["diverged"][i], cfg.num_updates)
                         for i, cfg in enumerate(self.configs)])

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy frame: one row per (configuration, seed, update).

        Columns: config, seed (index into the sweep's seed keys), update
        (counted from 1, as in the CLI's metrics.csv), one column per swept
        setting, then one per metric. Metrics named like an
        HParams field (`learning_rate`, `kl_coef`: their value at that update,
        annealed or adapted) get the suffix `_at_update`, so the setting keeps its name.
        """
        frames = []
        for i, cfg in enumerate(self.configs):
            seeds, updates = np.meshgrid(np.arange(self.num_seeds), update_numbers(cfg.num_updates),
                                         indexing="ij")
            n = seeds.size
            columns = {"config": np.full(n, i), "seed": seeds.ravel(), "update": updates.ravel()}
            columns.update({k: [_setting(cfg, k)] * n for k in self.keys})
            columns.update({metric_column(m): v[i, :, : cfg.num_updates].ravel()
                            for m, v in self.metrics.items()})
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)

    def summary(self, confidence: float = 0.95, num_resamples: int = 10_000) -> pd.DataFrame:
        """Per configuration: mean final return over seeds and its bootstrap CI, best first.

        Final return as in `final_returns` (nanmean of episode_return over the
        last 10% of updates); seeds with no episode in that window are left out
        of the mean. A diverged seed is not left out: its final return is
        -inf, so a configuration with any diverged seed has mean -inf. Ranking
        is by diverged seeds first (fewest first), then by mean final return
        (NaN, no episode ended, last within its group): a configuration with a
        diverged seed ranks below every one without, even one with no episodes.
        Columns: config, the swept settings, final_return, ci_low, ci_high,
        diverged (its number of diverged seeds).
        """
        mean, low, high = bootstrap_ci(self.final_returns().T, confidence, num_resamples)
        frame = pd.DataFrame({"config": np.arange(self.num_configs)})
        for key in self.keys:
            frame[key] = [_setting(cfg, key) for cfg in self.configs]
        frame["final_return"], frame["ci_low"], frame["ci_high"] = mean, low, high
        frame["diverged"] = self.diverged().sum(axis=1)
        frame = frame.sort_values(["diverged", "final_return"], ascending=[True, False],
                                  na_position="last", kind="stable")
        return frame.reset_index(drop=True)

    def best(self) -> PPOConfig:
        """The `PPOConfig` of the configuration with the highest mean final return
        (never one with a diverged seed: its mean is -inf)."""
        return self.configs[self._best_index()[0]]

    def _best_index(self) -> tuple[int, np.ndarray]:
        """(index of the best configuration, mean final return per configuration):
        the highest mean among configurations with no diverged seed."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(self.final_returns(), axis=1)
        healthy = ~self.diverged().any(axis=1)
        if not healthy.any():
            raise ValueError(
                "SweepResult.best: every configuration has a diverged seed (non-finite params or "
                "losses); see summary()'s `diverged` column and lower the learning rate")
        candidates = np.where(healthy, means, np.nan)
        if np.all(np.isnan(candidates)):
            raise ValueError(
                f"SweepResult.best: no run completed an episode in its last {FINAL_FRACTION:.0%} of "
                "updates" + ("" if healthy.all() else " (among the configurations that did not diverge)"))
        return int(np.nanargmax(candidates)), means
