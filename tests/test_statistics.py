"""Aggregates over envs: the interquartile mean and the stratified bootstrap, against
scipy's trimmed mean and a hand-worked case."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from ppo_jax.analysis.statistics import (
    interquartile_mean,
    normalized_score,
    stratified_bootstrap_ci,
)


@pytest.mark.parametrize("n", [1, 3, 4, 7, 8, 13, 40])
def test_interquartile_mean_equals_scipys_quarter_trimmed_mean(n):
    scores = np.random.default_rng(n).normal(size=(n,)) ** 3  # heavy tails: trimming matters
    assert interquartile_mean(scores) == pytest.approx(scipy.stats.trim_mean(scores, 0.25, axis=None))


def test_interquartile_mean_by_hand():
    # 8 scores: 2 cut at each end, the mean of the middle 4.
    assert interquartile_mean([100, 0, 1, 2, 3, 4, 5, -100]) == pytest.approx((1 + 2 + 3 + 4) / 4)
    # pooled over every axis
    assert interquartile_mean([[100, 0, 1, 2], [3, 4, 5, -100]]) == pytest.approx(2.5)


def test_normalized_score_anchors_and_bad_anchors():
    np.testing.assert_allclose(normalized_score([20.0, 500.0, 260.0], low=20.0, high=500.0), [0, 1, 0.5])
    with pytest.raises(ValueError, match="high > low"):
        normalized_score(1.0, low=0.0, high=0.0)


def test_stratified_bootstrap_resamples_within_each_task():
    # Two tasks whose seeds are all equal: every resample is the same, so the interval is the point.
    point, low, high = stratified_bootstrap_ci([np.ones(5), np.zeros(3)], statistic=np.mean)
    assert point == low == high == pytest.approx(5 / 8)
    # A plain (unstratified) bootstrap of the pooled 8 would move the task weights and
    # widen the interval; the stratified one keeps 5 ones and 3 zeros in every draw.


def test_stratified_bootstrap_interval_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    tasks = [rng.normal(size=8), rng.normal(1.0, 2.0, size=4)]
    point, low, high = stratified_bootstrap_ci(tasks, num_resamples=500, seed=3)
    draws, ref_rng = [], np.random.default_rng(3)
    for _ in range(500):
        pooled = []
        for t in tasks:
            pooled += list(t[ref_rng.integers(0, len(t), len(t))])
        draws.append(scipy.stats.trim_mean(pooled, 0.25))
    assert point == pytest.approx(scipy.stats.trim_mean(np.concatenate(tasks), 0.25))
    assert (low, high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    assert low < point < high
