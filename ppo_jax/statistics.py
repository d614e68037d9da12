"""Statistics over seeds: the final return of a run and bootstrap confidence intervals."""

from __future__ import annotations

import math
import warnings

import numpy as np

FINAL_FRACTION = 0.1  # final return: mean over the last 10% of updates


def final_return(episode_return: np.ndarray, num_updates: int) -> np.ndarray:
    """Final return of runs of `num_updates` updates: episode_return [..., >= num_updates] -> [...].

    The nanmean of `episode_return` over the run's last 10% of updates (at
    least one update); NaN where no episode ended in that window.
    """
    last = max(1, math.ceil(FINAL_FRACTION * num_updates))
    window = np.asarray(episode_return)[..., num_updates - last: num_updates]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN
        return np.nanmean(window, axis=-1)


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
        return np.nanmean(samples, axis=0), low, high
