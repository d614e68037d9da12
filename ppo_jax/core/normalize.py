"""Running statistics: observation normalization and discounted-return reward scaling.

Statistics are merged batch-wise with Chan et al.'s parallel algorithm, so a
rollout step updates them once for all of an agent's envs (they are shared by
the agent's envs: shape = observation shape).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

OBS_CLIP = 10.0
REWARD_CLIP = 10.0
EPS = 1e-8


@struct.dataclass
class RunningMeanStd:
    """Running mean and (population) variance of a stream of arrays.

    mean, var: float32 [*shape]; count: float32 [] (starts at a tiny epsilon so
    the first merge is well defined, as in gym's RunningMeanStd).
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init_running_stats(shape: tuple[int, ...]) -> RunningMeanStd:
    """Statistics of nothing seen yet: mean 0, var 1 [*shape], count 1e-4."""
    return RunningMeanStd(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        count=jnp.asarray(1e-4, jnp.float32),
    )


def update_running_stats(stats: RunningMeanStd, batch: jax.Array) -> RunningMeanStd:
    """Merges a batch [N, *shape] into the statistics (parallel Welford)."""
    batch_mean = jnp.mean(batch, axis=0)
    batch_var = jnp.var(batch, axis=0)
    batch_count = jnp.asarray(batch.shape[0], jnp.float32)
    delta = batch_mean - stats.mean
    total = stats.count + batch_count
    mean = stats.mean + delta * batch_count / total
    m2 = stats.var * stats.count + batch_var * batch_count + delta**2 * stats.count * batch_count / total
    return RunningMeanStd(mean=mean, var=m2 / total, count=total)


def normalize(stats: RunningMeanStd, x: jax.Array) -> jax.Array:
    """(x - mean) / std, clipped to [-10, 10]; broadcasts over leading axes."""
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + EPS), -OBS_CLIP, OBS_CLIP)


def observe(stats: RunningMeanStd, obs: jax.Array, normalize_observations: bool,
            raw_span: tuple[int, int] | None = None) -> jax.Array:
    """What the network sees: `normalize(stats, obs)` if `normalize_observations`, else `obs`.

    raw_span: (start, stop) of elements passed through unnormalized (an action mask,
    which the policy reads as 0/1); None: none.
    """
    if not normalize_observations:
        return obs
    normalized = normalize(stats, obs)
    if raw_span is None:
        return normalized
    start, stop = raw_span
    return normalized.at[..., start:stop].set(obs[..., start:stop])


@struct.dataclass
class RewardScaler:
    """Discounted-return accumulator per env and the running stats of it.

    discounted_return: float32 [num_envs]; return_stats: RunningMeanStd over [].
    """

    discounted_return: jax.Array
    return_stats: RunningMeanStd


def init_reward_scaler(num_envs: int) -> RewardScaler:
    """A scaler with zero discounted returns [num_envs] and fresh return statistics over []."""
    return RewardScaler(jnp.zeros((num_envs,), jnp.float32), init_running_stats(()))


def update_reward_scaler(
    scaler: RewardScaler, reward: jax.Array, done: jax.Array, gamma: jax.Array
) -> RewardScaler:
    """Accumulates rewards [B] into the discounted return and its statistics.

    The accumulator restarts after an episode ends (done [B]).
    """
    discounted = scaler.discounted_return * gamma + reward
    stats = update_running_stats(scaler.return_stats, discounted)
    return RewardScaler(jnp.where(done, 0.0, discounted), stats)


def scale_reward(scaler: RewardScaler, reward: jax.Array) -> jax.Array:
    """reward / std(discounted return), clipped to [-10, 10]."""
    return jnp.clip(reward / jnp.sqrt(scaler.return_stats.var + EPS), -REWARD_CLIP, REWARD_CLIP)
