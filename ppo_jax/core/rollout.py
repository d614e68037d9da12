"""Rollout collection: a `lax.scan` over num_steps of policy -> vmapped env.step."""

from __future__ import annotations

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ppo_jax.core.context import AgentContext
from ppo_jax.core.distributions import draw_policy_noise, greedy_action, sample_from_noise
from ppo_jax.core.distributions import log_prob as policy_log_prob
from ppo_jax.core.normalize import (
    RewardScaler,
    RunningMeanStd,
    observe,
    scale_reward,
    update_reward_scaler,
    update_running_stats,
)
from ppo_jax.core.types import RecurrentState, Transition
from ppo_jax.envs.adapters import Adapter
from ppo_jax.envs.spec import LogState
from ppo_jax.networks.interface import is_recurrent, recurrent_step


@struct.dataclass
class EpisodeTally:
    """Sums over the episodes that ended during a rollout (scalars)."""

    return_sum: jax.Array
    length_sum: jax.Array
    count: jax.Array

    @classmethod
    def zeros(cls) -> EpisodeTally:
        """The empty tally (all sums 0), where each rollout starts."""
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

    policy: `draw_policy_noise` noise [T, B, *spec.policy_shape].
    env_keys: keys [T, B] for the env steps (gymnax's step draws its auto-reset
      from its key).
    """

    policy: jax.Array
    env_keys: jax.Array


def draw_rollout_noise(key: jax.Array, adapter: Adapter, num_steps: int, num_envs: int) -> RolloutNoise:
    """Everything random in a rollout of [num_steps, num_envs], in a few batched calls."""
    policy_key, env_key = jax.random.split(key)
    spec = adapter.spec
    policy = draw_policy_noise(policy_key, (num_steps, num_envs) + spec.policy_shape, spec.discrete)
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
    obs = observe(obs_stats, carry.obs, normalize_observations, adapter.spec.mask_span)

    value, memory = None, carry.memory
    if memory is None:
        dist_params = network.apply(params, obs, method="policy")
    else:  # one step of the sequence; the critic shares the recurrent step, so it runs here
        hidden, dist_params, value = recurrent_step(network, params, memory.hidden, obs,
                                                    memory.episode_start)
    action = sample_from_noise(dist_params, noise.policy)
    log_prob = policy_log_prob(dist_params, action)
    step = jax.vmap(adapter.step)(noise.env_keys, carry.env_state, action)
    done = step.terminated | step.truncated

    reward, scaler = step.reward, carry.reward_scaler
    if normalize_rewards:
        scaler = update_reward_scaler(scaler, step.reward, done, gamma)
        reward = scale_reward(scaler, step.reward)
    next_obs = observe(obs_stats, step.final_obs, normalize_observations, adapter.spec.mask_span)

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
    place=None,
) -> tuple[RolloutCarry, Transition]:
    """Runs `num_steps` steps; the Transition's leaves are [T, B, ...].

    All the rollout's randomness is drawn up front (`draw_rollout_noise`).
    `place(tree, axis)` keeps the env axis `axis` on each env group's devices
    (`AgentContext.place`; None: no placement).
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
    if place is not None:
        noise = place(noise, 1)
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


def bootstrap_values(traj: Transition, last_value: jax.Array, value_fn, final_inputs=None,
                     groups: int = 1, place=None) -> jax.Array:
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
    groups: with G > 1 (`PPOConfig.data_parallel`) each group of B / G envs finds
    its own truncated rows (B / G at a time), so the work stays on the group's
    devices; `place(x, axis)` keeps it there (`AgentContext.place`). Same values.
    """
    num_steps, num_envs = traj.value.shape
    chex.assert_shape(last_value, (num_envs,))
    final_inputs = traj.next_obs if final_inputs is None else final_inputs
    truncated = traj.done & ~traj.terminated
    if groups == 1:
        return _bootstrap(traj.value, truncated, last_value, value_fn, final_inputs)
    place = place or (lambda tree, axis=0: tree)

    def by_group(x, env_axis=1):  # [.., B, ...] -> [G, .., B / G, ...], group axis placed
        x = x.reshape(x.shape[:env_axis] + (groups, num_envs // groups) + x.shape[env_axis + 1:])
        return place(jnp.moveaxis(x, env_axis, 0), 0)

    values = jax.vmap(functools.partial(_bootstrap, value_fn=value_fn))(
        by_group(traj.value), by_group(truncated), by_group(last_value, 0),
        final_inputs=jax.tree.map(by_group, final_inputs))
    return jnp.moveaxis(values, 0, 1).reshape(num_steps, num_envs)  # [T, G, B / G] -> [T, B]


def _bootstrap(value: jax.Array, truncated: jax.Array, last_value: jax.Array, value_fn,
               final_inputs) -> jax.Array:
    """`bootstrap_values` for one group of envs: value, truncated [T, B]; last_value [B]."""
    num_steps, num_envs = value.shape
    next_values = jnp.concatenate([value[1:], last_value[None]], axis=0).reshape(-1)
    truncated = truncated.reshape(-1)
    n = truncated.size
    # Indices of the truncated rows, then padding (n: out of range, dropped).
    (rows,) = jnp.nonzero(truncated, size=n + num_envs, fill_value=n)
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


# --- whole episodes (evaluation) ---------------------------------------------------




def network_input(ctx: AgentContext, obs_stats, flat_obs: jax.Array) -> jax.Array:
    """A flattened observation as the network sees it (frozen normalization statistics)."""
    return observe(obs_stats, flat_obs, ctx.config.normalize_observations, ctx.adapter.spec.mask_span)


def select_action(ctx: AgentContext, params, obs_stats, flat_obs: jax.Array, key: jax.Array,
                  deterministic: bool) -> jax.Array:
    """The policy's action (before the env's clipping), as in the rollout.

    `params` and `obs_stats` are one agent's network params and frozen
    observation statistics; flat_obs float32 [obs_dim] -> action [] or [A].
    """
    dist_params = ctx.network.apply(params, network_input(ctx, obs_stats, flat_obs), method="policy")
    return _action_from(ctx, dist_params, key, deterministic)


def _action_from(ctx: AgentContext, dist_params: dict, key: jax.Array, deterministic: bool) -> jax.Array:
    """One observation's action from its distribution parameters (greedy, or sampled with `key`)."""
    if deterministic:
        return greedy_action(dist_params)
    noise = draw_policy_noise(key, ctx.adapter.spec.policy_shape, ctx.adapter.spec.discrete)
    return sample_from_noise(dist_params, noise)


def act_on_batch(ctx: AgentContext, params, obs_stats, flat_obs: jax.Array, keys: jax.Array,
                 deterministic: bool, hidden=None) -> tuple[jax.Array, object]:
    """Actions for flat_obs [N, D] (row i sampled with keys[i]) and, for a recurrent
    network, the carry after them (`hidden` leaves [N, ...]: the carry entering this step).

    Returns (actions [N, ...], carry or None).
    """
    if hidden is None:
        act = lambda k, o: select_action(ctx, params, obs_stats, o, k, deterministic)
        return jax.vmap(act)(keys, flat_obs), None
    obs = network_input(ctx, obs_stats, flat_obs)
    starts = jnp.zeros(obs.shape[:1], bool)  # a carry to reset is the caller's initial carry
    hidden, dist_params, _ = recurrent_step(ctx.network, params, hidden, obs, starts)
    action = jax.vmap(lambda k, d: _action_from(ctx, d, k, deterministic))(keys, dist_params)
    return action, hidden


# Episodes of an env whose params name no `max_steps_in_episode` stop here (a
# bound, so evaluation inside training can never loop forever).
DEFAULT_EPISODE_STEP_LIMIT = 10_000


def episode_step_limit(ctx: AgentContext) -> int:
    """Steps after which evaluation episodes stop: the env's time limit (its adapter's
    `max_episode_steps`: gymnax's `max_steps_in_episode`, a suite's limit; every
    episode has ended by then), else DEFAULT_EPISODE_STEP_LIMIT."""
    limit = ctx.adapter.max_episode_steps
    try:
        return int(limit)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
        return DEFAULT_EPISODE_STEP_LIMIT


@struct.dataclass
class _EpisodesCarry:
    """Episodes played in parallel, leaves [N, ...]; `step` int32 [] steps taken."""

    key: jax.Array
    env_state: LogState
    obs: jax.Array
    done: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array
    step: jax.Array
    hidden: object = None  # a recurrent network's carry, leaves [N, ...]


def _episodes_step(c: _EpisodesCarry, *, ctx: AgentContext, params, obs_stats,
                   deterministic: bool) -> _EpisodesCarry:
    """One step of every unfinished episode (finished ones keep their totals)."""
    key, act_key, step_key = jax.random.split(c.key, 3)
    n = c.obs.shape[0]
    action, hidden = act_on_batch(ctx, params, obs_stats, c.obs, jax.random.split(act_key, n),
                                  deterministic, c.hidden)
    step = jax.vmap(ctx.adapter.step)(jax.random.split(step_key, n), c.env_state, action)
    live = ~c.done
    return _EpisodesCarry(
        key=key,
        env_state=step.state,
        obs=step.obs,
        done=c.done | step.terminated | step.truncated,
        episode_return=c.episode_return + jnp.where(live, step.reward, 0.0),
        episode_length=c.episode_length + live.astype(jnp.int32),
        step=c.step + 1,
        hidden=hidden,
    )


def play_episodes(ctx: AgentContext, params, obs_stats, key: jax.Array, num_episodes: int,
                  deterministic: bool) -> tuple[jax.Array, jax.Array]:
    """(returns float32 [N], lengths int32 [N]) of N = num_episodes whole episodes.

    One agent (`params`, frozen `obs_stats`) plays N fresh envs in parallel, each
    until termination or truncation, in a `lax.while_loop` bounded by
    `episode_step_limit` steps (an episode still running there counts as it stands).
    The shared core of `evaluate` and of evaluation during training.
    """
    reset_key, key = jax.random.split(key)
    obs, env_state = jax.vmap(ctx.adapter.reset)(jax.random.split(reset_key, num_episodes))
    init = _EpisodesCarry(key, env_state, obs, jnp.zeros(num_episodes, bool),
                          jnp.zeros(num_episodes, jnp.float32), jnp.zeros(num_episodes, jnp.int32),
                          jnp.zeros((), jnp.int32),
                          ctx.network.initialize_carry((num_episodes,)) if is_recurrent(ctx.network) else None)
    limit = episode_step_limit(ctx)
    body = functools.partial(_episodes_step, ctx=ctx, params=params, obs_stats=obs_stats,
                             deterministic=deterministic)
    final = jax.lax.while_loop(lambda c: ~jnp.all(c.done) & (c.step < limit), body, init)
    return final.episode_return, final.episode_length
