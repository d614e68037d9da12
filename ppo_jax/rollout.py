"""Rollout collection: a `lax.scan` over num_steps of policy -> vmapped env.step."""

from __future__ import annotations

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ppo_jax.distributions import log_prob as policy_log_prob
from ppo_jax.envs import Adapter, LogState
from ppo_jax.networks import draw_policy_noise, sample_from_noise
from ppo_jax.normalize import (
    RewardScaler,
    RunningMeanStd,
    observe,
    scale_reward,
    update_reward_scaler,
    update_running_stats,
)
from ppo_jax.types import RecurrentState, Transition


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
    """Scan carry of `rollout_step`. env_state leaves [B, ...]; obs raw [B, D];
    memory: the recurrent network's `RecurrentState` (None for feed-forward ones)."""

    env_state: LogState
    obs: jax.Array
    obs_stats: RunningMeanStd
    reward_scaler: RewardScaler
    episodes: EpisodeTally
    memory: RecurrentState | None = None


@struct.dataclass
class RolloutNoise:
    """All of one rollout's randomness, drawn before the scan. Leaves [T, B, ...].

    policy: `draw_policy_noise` noise [T, B, policy_dim].
    env_keys: keys [T, B] for the env steps (gymnax's step draws its auto-reset
      from its key).
    """

    policy: jax.Array
    env_keys: jax.Array


def draw_rollout_noise(key: jax.Array, adapter: Adapter, num_steps: int, num_envs: int) -> RolloutNoise:
    """Everything random in a rollout of [num_steps, num_envs], in a few batched calls."""
    policy_key, env_key = jax.random.split(key)
    spec = adapter.spec
    policy = draw_policy_noise(policy_key, (num_steps, num_envs, spec.policy_dim), spec.discrete)
    # A flat split, reshaped: split(key, (T, B)) compiles several times slower.
    env_keys = jax.random.split(env_key, num_steps * num_envs)
    # env_keys.shape[1:] is () for typed keys and (2,) for legacy uint32 PRNGKeys.
    env_keys = env_keys.reshape((num_steps, num_envs) + env_keys.shape[1:])
    return RolloutNoise(policy, env_keys)


def rollout_step(
    carry: RolloutCarry,
    noise: RolloutNoise,
    *,
    adapter: Adapter,
    network: nn.Module,
    params,
    gamma,
    normalize_observations: bool,
    normalize_rewards: bool,
) -> tuple[RolloutCarry, Transition]:
    """Acts in all B envs once; returns the new carry and one Transition [B, ...]
    (its `value` is None: `collect_rollout` fills it for the whole rollout).

    noise: this step's slice of a `RolloutNoise` (leaves [B, ...]).
    """
    obs_stats = carry.obs_stats
    if normalize_observations:
        obs_stats = update_running_stats(obs_stats, carry.obs)
    obs = observe(obs_stats, carry.obs, normalize_observations)

    value, memory = None, carry.memory
    if memory is None:
        dist_params = network.apply(params, obs, method="policy")
    else:  # one step of the sequence; the critic shares the recurrent step, so it runs here
        hidden, dist_params, value = network.apply(params, memory.hidden, obs[None],
                                                   memory.episode_start[None], method="unroll")
        dist_params, value = jax.tree.map(lambda x: x[0], (dist_params, value))
    action = sample_from_noise(dist_params, noise.policy)
    log_prob = policy_log_prob(dist_params, action)
    step = jax.vmap(adapter.step)(noise.env_keys, carry.env_state, action)
    done = step.terminated | step.truncated

    reward, scaler = step.reward, carry.reward_scaler
    if normalize_rewards:
        scaler = update_reward_scaler(scaler, step.reward, done, gamma)
        reward = scale_reward(scaler, step.reward)
    next_obs = observe(obs_stats, step.final_obs, normalize_observations)

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
        value=value,  # feed-forward: None; V(obs) of the whole rollout is one pass after the scan
        reward=reward,
        terminated=step.terminated,
        done=done,
        dist_params=dist_params,
        episode_start=None if memory is None else memory.episode_start,
        hidden=None if memory is None else memory.hidden,
    )
    if memory is not None:
        memory = RecurrentState(hidden, done)
    new_carry = RolloutCarry(step.state, step.obs, obs_stats, scaler, episodes, memory)
    return new_carry, transition


def collect_rollout(
    carry: RolloutCarry,
    key: jax.Array,
    *,
    adapter: Adapter,
    network: nn.Module,
    params,
    gamma,
    num_steps: int,
    normalize_observations: bool,
    normalize_rewards: bool,
) -> tuple[RolloutCarry, Transition]:
    """Runs `num_steps` steps; the Transition's leaves are [T, B, ...].

    All the rollout's randomness is drawn up front (`draw_rollout_noise`).
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
    noise = draw_rollout_noise(key, adapter, num_steps, carry.obs.shape[0])
    carry, traj = jax.lax.scan(body, carry, noise)
    if traj.value is not None:  # recurrent: computed step by step
        return carry, traj
    # The critic does not steer the rollout: one pass over all [T, B] observations
    # costs far less than T small passes inside the scan.
    return carry, traj.replace(value=network.apply(params, traj.obs, method="value"))


@struct.dataclass
class _TruncatedValues:
    """Carry of `bootstrap_values`' loop: next values [T * B], truncated rows done so far."""

    next_values: jax.Array
    start: jax.Array


def bootstrap_values(traj: Transition, last_value: jax.Array, value_fn, final_inputs=None) -> jax.Array:
    """V(s'_t), the value of the state each step reached: float32 [T, B].

    Where step t did not end an episode, s'_t is the next step's observation,
    whose value the rollout already computed: traj.value[t + 1] (last_value
    [B], the value of the observation after the rollout, for the last step).
    Where it was truncated, s'_t is the final observation before the
    auto-reset (traj.next_obs[t]) and `value_fn` (obs [N, D] -> [N]) is run
    on just those rows, B at a time. Where it terminated, the value is never
    used (GAE cuts the bootstrap) and is left as traj.value[t + 1].
    final_inputs: what `value_fn` takes per row, leaves [T, B, ...] (default
    traj.next_obs; a recurrent network also needs its carry after step t).
    """
    num_steps, num_envs = traj.value.shape
    chex.assert_shape(last_value, (num_envs,))
    next_values = jnp.concatenate([traj.value[1:], last_value[None]], axis=0).reshape(-1)
    truncated = (traj.done & ~traj.terminated).reshape(-1)
    n = truncated.size
    # Indices of the truncated rows, then padding (n: out of range, dropped).
    (rows,) = jnp.nonzero(truncated, size=n + num_envs, fill_value=n)
    final_inputs = traj.next_obs if final_inputs is None else final_inputs
    final_inputs = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), final_inputs)

    def add_chunk(carry: _TruncatedValues) -> _TruncatedValues:
        chunk = jax.lax.dynamic_slice_in_dim(rows, carry.start, num_envs)
        values = value_fn(jax.tree.map(lambda x: jnp.take(x, chunk, axis=0, mode="clip"), final_inputs))
        return _TruncatedValues(carry.next_values.at[chunk].set(values, mode="drop"),
                                carry.start + num_envs)

    # Usually at most one pass of B rows (or none): truncation is rare within a rollout.
    done = jax.lax.while_loop(lambda c: c.start < truncated.sum(), add_chunk,
                              _TruncatedValues(next_values, jnp.zeros((), jnp.int32)))
    return done.next_values.reshape(num_steps, num_envs)
