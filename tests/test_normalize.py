"""Running statistics and reward scaling against numpy over the whole stream."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core.normalize import (
    EPS,
    init_reward_scaler,
    init_running_stats,
    normalize,
    scale_reward,
    update_reward_scaler,
    update_running_stats,
)

# batch sizes of the merged stream, per case
BATCH_SIZES = {
    "one_batch": [64],
    "equal_batches": [16, 16, 16, 16],
    "unequal_batches": [1, 7, 50, 3, 100],
    "single_rows": [1] * 12,
}
SHAPES = {"vector": (3,), "image": (2, 4)}


PRIOR_COUNT = 1e-4  # the statistics start as mean 0, var 1 seen 1e-4 times (as gym's)


def stats_with_prior(values: np.ndarray):
    """numpy mean and population variance of values [n, ...] joined with the prior."""
    n = len(values) + PRIOR_COUNT
    mean = values.sum(0) / n
    var = (((values - mean) ** 2).sum(0) + PRIOR_COUNT * (1.0 + mean**2)) / n
    return mean, var


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("sizes", list(BATCH_SIZES), ids=list(BATCH_SIZES))
def test_merged_running_stats_equal_numpy_of_concatenation(sizes, shape):
    rng = np.random.default_rng(0)
    obs_shape = SHAPES[shape]
    # an offset and a scale far from (0, 1), per feature
    offset = rng.normal(size=obs_shape) * 5
    scale = rng.uniform(0.5, 3.0, size=obs_shape)
    batches = [(rng.normal(size=(n, *obs_shape)) * scale + offset).astype(np.float32)
               for n in BATCH_SIZES[sizes]]
    stats = init_running_stats(obs_shape)
    update = jax.jit(update_running_stats)
    for batch in batches:
        stats = update(stats, jnp.asarray(batch))
    stream = np.concatenate(batches).astype(np.float64)
    want_mean, want_var = stats_with_prior(stream)
    np.testing.assert_allclose(stats.mean, want_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, want_var, rtol=1e-5, atol=1e-5)
    assert float(stats.count) == pytest.approx(len(stream), abs=1e-3)
    # the prior is negligible once the stream is long
    if len(stream) >= 64:
        np.testing.assert_allclose(stats.mean, stream.mean(0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(stats.var, stream.var(0), rtol=1e-4, atol=1e-4)


def test_normalize_uses_the_statistics_and_clips():
    rng = np.random.default_rng(1)
    stats = init_running_stats((4,))
    stats = update_running_stats(stats, jnp.asarray(rng.normal(size=(200, 4)) * 2 + 3, jnp.float32))
    x = np.array([[3.0, 3.0, 100.0, -100.0], [0.0, 5.0, 3.0, 1.0]], np.float32)
    mean, var = np.asarray(stats.mean), np.asarray(stats.var)
    want = np.clip((x - mean) / np.sqrt(var + EPS), -10, 10)
    np.testing.assert_allclose(normalize(stats, jnp.asarray(x)), want, rtol=1e-5, atol=1e-6)
    assert float(normalize(stats, jnp.asarray(x))[0, 2]) == 10.0
    assert float(normalize(stats, jnp.asarray(x))[0, 3]) == -10.0


def reward_scaling_reference(rewards, dones, gamma):
    """gym's NormalizeReward: per env R <- gamma R + r, statistics of every R seen,
    R reset after an episode end; r / std(R) clipped to [-10, 10]."""
    steps, num_envs = rewards.shape
    ret = np.zeros(num_envs)
    seen = []
    scaled = np.zeros_like(rewards, dtype=np.float64)
    for t in range(steps):
        ret = ret * gamma + rewards[t]
        seen.append(ret.copy())
        values = np.concatenate(seen)
        _, var = stats_with_prior(values)
        scaled[t] = np.clip(rewards[t] / np.sqrt(var + EPS), -10, 10)
        ret = np.where(dones[t], 0.0, ret)
    return scaled, ret, values.mean(), values.var()


DONE_CASES = {
    "no_episode_end": lambda rng, shape: np.zeros(shape, bool),
    "random_episode_ends": lambda rng, shape: rng.random(shape) < 0.2,
    "every_step_ends": lambda rng, shape: np.ones(shape, bool),
}


@pytest.mark.parametrize("case", list(DONE_CASES), ids=list(DONE_CASES))
def test_reward_scaler_matches_numpy_loop(case):
    rng = np.random.default_rng(2)
    steps, num_envs, gamma = 40, 3, 0.9
    rewards = (rng.normal(size=(steps, num_envs)) * 2 + 1).astype(np.float32)
    dones = DONE_CASES[case](rng, (steps, num_envs))
    want_scaled, want_ret, want_mean, want_var = reward_scaling_reference(rewards, dones, gamma)

    @jax.jit
    def run(rewards, dones):
        def body(scaler, step):
            reward, done = step
            scaler = update_reward_scaler(scaler, reward, done, jnp.float32(gamma))
            return scaler, scale_reward(scaler, reward)
        return jax.lax.scan(body, init_reward_scaler(num_envs), (rewards, dones))

    scaler, scaled = run(jnp.asarray(rewards), jnp.asarray(dones))
    np.testing.assert_allclose(scaled, want_scaled, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scaler.discounted_return, want_ret, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scaler.return_stats.mean, want_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scaler.return_stats.var, want_var, rtol=1e-4, atol=1e-4)
