"""Rollout collection: a `lax.scan` over num_steps of policy -> vmapped env.step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from ppo_jax.envs import GymnaxAdapter, LogState
from ppo_jax.networks import ActorCritic, make_distribution
from ppo_jax.normalize import (
    RewardScaler,
    RunningMeanStd,
    normalize,
    scale_reward,
    update_reward_scaler,
    update_running_stats,
)
from ppo_jax.types import Transition


@struct.dataclass
class EpisodeTally:
    """Sums over the episodes that ended during a rollout (scalars)."""

    return_sum: jax.Array
    length_sum: jax.Array
    count: jax.Array

    @classmethod
    def zeros(cls) -> "EpisodeTally":
        z = jnp.zeros((), jnp.float32)
        return cls(z, z, z)


@struct.dataclass
class RolloutCarry:
    """Scan carry of `rollout_step`. env_state leaves [B, ...]; obs raw [B, D]."""

    env_state: LogState
    obs: jax.Array
    obs_stats: RunningMeanStd
    reward_scaler: RewardScaler
    episodes: EpisodeTally


def rollout_step(
    carry: RolloutCarry,
    step_keys: jax.Array,
    *,
    adapter: GymnaxAdapter,
    network: ActorCritic,
    params,
    gamma,
    normalize_observations: bool,
    normalize_rewards: bool,
) -> tuple[RolloutCarry, Transition]:
    """Acts in all B envs once; returns the new carry and one Transition [B, ...].

    step_keys: [B + 1] keys, the first for the policy, the others for the envs.
    """
    obs_stats = carry.obs_stats
    obs = carry.obs
    if normalize_observations:
        obs_stats = update_running_stats(obs_stats, obs)
        obs = normalize(obs_stats, obs)

    dist_params, value = network.apply(params, obs)
    action, log_prob = make_distribution(dist_params).sample_and_log_prob(seed=step_keys[0])
    step = jax.vmap(adapter.step)(step_keys[1:], carry.env_state, action)
    done = step.terminated | step.truncated

    reward, scaler = step.reward, carry.reward_scaler
    if normalize_rewards:
        scaler = update_reward_scaler(scaler, step.reward, done, gamma)
        reward = scale_reward(scaler, step.reward)
    next_obs = normalize(obs_stats, step.final_obs) if normalize_observations else step.final_obs

    episodes = EpisodeTally(
        carry.episodes.return_sum + step.episode_return.sum(),
        carry.episodes.length_sum + step.episode_length.sum().astype(jnp.float32),
        carry.episodes.count + done.sum().astype(jnp.float32),
    )
    transition = Transition(
        obs=obs,
        next_obs=next_obs,
        action=action,
        log_prob=log_prob,
        value=value,
        reward=reward,
        terminated=step.terminated,
        done=done,
        dist_params=dist_params,
    )
    new_carry = RolloutCarry(step.state, step.obs, obs_stats, scaler, episodes)
    return new_carry, transition


def collect_rollout(
    carry: RolloutCarry,
    key: jax.Array,
    *,
    adapter: GymnaxAdapter,
    network: ActorCritic,
    params,
    gamma,
    num_steps: int,
    normalize_observations: bool,
    normalize_rewards: bool,
) -> tuple[RolloutCarry, Transition]:
    """Runs `num_steps` steps; the Transition's leaves are [T, B, ...].

    All the rollout's keys are drawn in one split up front: [T, B + 1].
    """
    body = functools.partial(
        rollout_step,
        adapter=adapter,
        network=network,
        params=params,
        gamma=gamma,
        normalize_observations=normalize_observations,
        normalize_rewards=normalize_rewards,
    )
    num_envs = carry.obs.shape[0]
    keys = jax.random.split(key, num_steps * (num_envs + 1)).reshape(num_steps, num_envs + 1)
    return jax.lax.scan(body, carry, keys)
