"""Statistics over seeds: the final return of a run, bootstrap confidence intervals, and
aggregates over envs (the interquartile mean of normalized scores, as rliable)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

FINAL_FRACTION = 0.1  # final return: mean over the last 10% of updates
FINAL_RETURN_DEFINITION = "the mean episode_return over the last 10% of updates; -inf if the run diverged"
DIVERGED_RETURN = -np.inf  # a diverged run's final return: the worst, never dropped like a NaN


def final_window(num_updates: int) -> int:
    """How many updates a run's final return averages: its last 10%, at least one."""
    return max(1, math.ceil(FINAL_FRACTION * num_updates))


def final_return(episode_return: Any, num_updates: int | None = None, diverged: Any = None) -> np.ndarray:
    """The final return of runs: episode_return [..., >= num_updates] -> float [...].

    The one definition of "final return" in ppo_jax (`SweepResult`,
    `TrainOutput.final_return`, the scripts and the docs use it): the
    nanmean of a run's per-update `episode_return` over its last
    `final_window(num_updates)` updates, the last 10% (at least one). Updates
    in which no episode ended (NaN) are left out; NaN if no episode ended in
    the whole window. A run that diverged (its `diverged` metric is 1 at any
    of its updates: non-finite params or losses) gets -inf: a failure that
    ranks below every finite return and is never skipped by a nanmean, while
    NaN keeps meaning "no episode ended".

    Args:
      episode_return: per-update mean returns, updates on the last axis
        (a `TrainOutput.metrics["episode_return"]`, any leading batch axes).
      num_updates: the run's length, for a run NaN-padded past its end (a
        sweep with different budgets); default: the last axis's length.
      diverged: the runs' `diverged` metric, same shape as episode_return
        (optional; without it no run counts as diverged).

    Returns:
      float array of the leading shape (a float for one run).

    Examples:
      >>> float(final_return(np.arange(1.0, 21.0)))       # 20 updates: the mean of the last 2
      19.5
      >>> final_return(np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]]))  # 2 runs of 3 updates
      array([ 3., nan])
      >>> final_return(np.array([[1.0, 2.0], [9.0, 9.0]]), diverged=np.array([[0.0, 0.0], [0.0, 1.0]]))
      array([ 2., -inf])
    """
    episode_return = np.asarray(episode_return, np.float64)
    num_updates = episode_return.shape[-1] if num_updates is None else num_updates
    last = final_window(num_updates)
    window = episode_return[..., num_updates - last: num_updates]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN
        final = np.nanmean(window, axis=-1)
    if diverged is not None:
        ever = np.any(np.asarray(diverged)[..., :num_updates] > 0, axis=-1)
        final = np.where(ever, DIVERGED_RETURN, final)
    return final


def diverged_runs(diverged: Any, num_updates: int | None = None) -> np.ndarray:
    """bool [...]: runs whose `diverged` metric [..., num_updates] is 1 at any update."""
    diverged = np.asarray(diverged)
    num_updates = diverged.shape[-1] if num_updates is None else num_updates
    return np.any(diverged[..., :num_updates] > 0, axis=-1)


def bootstrap_ci(samples: np.ndarray, confidence: float = 0.95, num_resamples: int = 10_000,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its percentile-bootstrap confidence interval.

    Args:
      samples: [n, ...] (e.g. seeds first); NaN entries are ignored.
      confidence: coverage of the interval.
      num_resamples: bootstrap resamples of the n rows (with replacement).
      seed: numpy seed of the resampling.

    Returns:
      (mean, low, high), each of shape samples.shape[1:].
    """
    samples = np.asarray(samples, np.float64)
    idx = np.random.default_rng(seed).integers(0, samples.shape[0], (num_resamples, samples.shape[0]))
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        means = np.nanmean(samples[idx], axis=1)
        low, high = np.nanpercentile(means, [tail, 100 - tail], axis=0)
        if np.isinf(means).any():
            # Interpolating between -inf (a diverged run's return) and a finite
            # mean gives NaN; take the nearest order statistic outward there.
            low = np.where(np.isnan(low), np.nanpercentile(means, tail, axis=0, method="lower"), low)
            high = np.where(np.isnan(high), np.nanpercentile(means, 100 - tail, axis=0, method="higher"), high)
        return np.nanmean(samples, axis=0), low, high


def interquartile_mean(scores: Any) -> float:
    """Mean of the middle half of `scores` (every axis pooled): the 25% trimmed mean.

    As rliable's IQM (scipy.stats.trim_mean(scores, 0.25, axis=None)): int(n / 4)
    scores are cut at each end of the sorted n.
    """
    x = np.sort(np.asarray(scores, np.float64).ravel())
    if x.size == 0:
        raise ValueError("interquartile_mean of no scores")
    cut = int(0.25 * x.size)
    return float(x[cut:x.size - cut].mean())


def normalized_score(score: Any, low: float, high: float) -> np.ndarray:
    """(score - low) / (high - low): 0 at `low` (a random policy), 1 at `high` (a reference)."""
    if not high > low:
        raise ValueError(f"normalized_score needs high > low, got low={low}, high={high}")
    return (np.asarray(score, np.float64) - low) / (high - low)


def stratified_bootstrap_ci(
    scores_by_task: Sequence[Any], statistic: Callable[[np.ndarray], float] = interquartile_mean,
    confidence: float = 0.95, num_resamples: int = 2_000, seed: int = 0,
) -> tuple[float, float, float]:
    """An aggregate over tasks and its stratified percentile-bootstrap interval (rliable's).

    Args:
      scores_by_task: one 1-D array of per-seed scores per task (lengths may differ).
      statistic: maps the pooled scores of every task to a number (default: IQM).
      confidence: coverage of the interval.
      num_resamples: resamples; each draws every task's seeds with replacement,
        within that task, so every task keeps its weight.
      seed: numpy seed of the resampling.

    Returns:
      (statistic of the scores, low, high).
    """
    tasks = [np.asarray(t, np.float64).ravel() for t in scores_by_task]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("stratified_bootstrap_ci needs at least one score for every task")
    rng = np.random.default_rng(seed)
    draws = np.empty(num_resamples)
    for i in range(num_resamples):
        draws[i] = statistic(np.concatenate([t[rng.integers(0, t.size, t.size)] for t in tasks]))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return statistic(np.concatenate(tasks)), float(low), float(high)


def binned_curves(episode_return: Any, batch_size: int, points: int = 100) -> dict:
    """Per-seed learning curves [S, U] averaged into at most `points` bins of updates.

    Returns {"steps": env steps at each bin's end, "per_seed": one list per seed of each
    bin's mean return, None where a bin finished no episode}: a results row's
    JSON-friendly curve.
    """
    returns = np.asarray(episode_return, np.float64)
    edges = np.linspace(0, returns.shape[1], min(points, returns.shape[1]) + 1).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin with no finished episode: NaN
        binned = np.stack([np.nanmean(returns[:, a:b], axis=1) for a, b in zip(edges[:-1], edges[1:])], 1)
    return {"steps": [int(b * batch_size) for b in edges[1:]],
            "per_seed": [[None if math.isnan(v) else round(float(v), 5) for v in seed] for seed in binned]}


def format_return(x: float) -> str:
    """A return for a results table: 1,234.5 at 10 and above, 0.123 below."""
    return f"{x:,.1f}" if abs(x) >= 10 else f"{x:.3f}"


def machine_label(row: dict) -> str:
    """A results row's machine in a few words: "2-core CPU", or the accelerator's kind."""
    device = row["device"]
    if device["platform"] == "cpu":
        return f"{row['cpu_count']}-core CPU"
    return device["kind"]
