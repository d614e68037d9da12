"""The minibatch shuffle: a uniformly random permutation, applied to every field alike."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core.types import Batch
from ppo_jax.core.update import random_permutation, shuffle_into_minibatches


@pytest.mark.parametrize("n", [1, 2, 5, 512, 4096, 8192], ids=lambda n: f"n={n}")
def test_random_permutation_is_a_permutation(n):
    # n <= 4096 takes the packed single-sort path, 8192 jax.random.permutation
    perms = jax.jit(jax.vmap(lambda k: random_permutation(k, n)))(jax.random.split(jax.random.key(0), 8))
    assert perms.dtype == jnp.int32
    np.testing.assert_array_equal(np.sort(np.asarray(perms), axis=1), np.tile(np.arange(n), (8, 1)))


def test_all_permutations_of_four_are_equally_likely():
    """Chi-square over the 24 permutations of 4 items in 48,000 draws."""
    draws = 48_000
    perms = np.asarray(jax.jit(jax.vmap(lambda k: random_permutation(k, 4)))(
        jax.random.split(jax.random.key(1), draws)))
    index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.bincount([index[tuple(p)] for p in perms], minlength=24)
    expected = draws / 24
    chi2 = ((counts - expected) ** 2 / expected).sum()
    # 23 degrees of freedom: P(chi2 > 60) < 1e-4 under uniformity
    assert chi2 < 60, (chi2, counts)


def test_every_item_is_equally_likely_at_every_position():
    """n = 512: where item 0 lands, over 20,000 shuffles, is uniform on 8 bins."""
    draws = 20_000
    perms = np.asarray(jax.jit(jax.vmap(lambda k: random_permutation(k, 512)))(
        jax.random.split(jax.random.key(2), draws)))
    position_of_first = np.argmax(perms == 0, axis=1)
    counts = np.bincount(position_of_first // 64, minlength=8)
    expected = draws / 8
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 35, (chi2, counts)  # 7 degrees of freedom: P(chi2 > 35) < 1e-5


def test_shuffle_keeps_rows_together_and_splits_evenly():
    n, num_minibatches = 64, 4
    rows = jnp.arange(n)
    batch = Batch(
        obs=jnp.stack([rows, -rows], axis=1).astype(jnp.float32),
        action=rows,
        log_prob=rows.astype(jnp.float32) * 2,
        value=rows.astype(jnp.float32) * 3,
        advantage=rows.astype(jnp.float32) * 4,
        target=rows.astype(jnp.float32) * 5,
        dist_params={"logits": jnp.stack([rows, rows + 1], axis=1).astype(jnp.float32)},
    )
    shuffled = shuffle_into_minibatches(jax.random.key(3), batch, num_minibatches)
    assert shuffled.obs.shape == (num_minibatches, n // num_minibatches, 2)
    order = np.asarray(shuffled.action).reshape(-1)
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    assert not np.array_equal(order, np.arange(n))
    np.testing.assert_array_equal(np.asarray(shuffled.obs).reshape(-1, 2), np.stack([order, -order], 1))
    for field, scale in (("log_prob", 2), ("value", 3), ("advantage", 4), ("target", 5)):
        np.testing.assert_array_equal(np.asarray(getattr(shuffled, field)).reshape(-1), order * scale)
    np.testing.assert_array_equal(np.asarray(shuffled.dist_params["logits"]).reshape(-1, 2),
                                  np.stack([order, order + 1], 1))
