"""Using a trained agent: policy and value functions, and whole-episode evaluation.

All of them use the observation-normalization statistics stored in the state,
frozen (evaluation never updates them).
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from ppo_jax.config import PPOConfig
from ppo_jax.context import AgentContext, check_agent_fits, check_finite_agent, make_context
from ppo_jax.envs import EnvParams, Environment, LogState
from ppo_jax.networks import draw_policy_noise, greedy_action, is_recurrent, sample_from_noise
from ppo_jax.normalize import observe
from ppo_jax.types import TrainOutput, TrainState
from ppo_jax.validation import check_positive_int


def _check_single_agent(state: TrainState) -> None:
    if state.update_step.ndim != 0:
        raise ValueError(
            f"state holds a population (leading axis {state.update_step.shape}); pick one agent "
            "first, e.g. jax.tree.map(lambda x: x[0], outs.state)"
        )


def _network_input(ctx: AgentContext, obs_stats, flat_obs: jax.Array) -> jax.Array:
    """A flattened observation as the network sees it (frozen normalization statistics)."""
    return observe(obs_stats, flat_obs, ctx.config.normalize_observations)


def select_action(ctx: AgentContext, params, obs_stats, flat_obs: jax.Array, key: jax.Array,
                  deterministic: bool) -> jax.Array:
    """The policy's action (before the env's clipping), as in the rollout.

    `params` and `obs_stats` are one agent's network params and frozen
    observation statistics; flat_obs float32 [obs_dim] -> action [] or [A].
    """
    dist_params = ctx.network.apply(params, _network_input(ctx, obs_stats, flat_obs), method="policy")
    return _action_from(ctx, dist_params, key, deterministic)


def _action_from(ctx: AgentContext, dist_params: dict, key: jax.Array, deterministic: bool) -> jax.Array:
    """One observation's action from its distribution parameters (greedy, or sampled with `key`)."""
    if deterministic:
        return greedy_action(dist_params)
    noise = draw_policy_noise(key, (ctx.adapter.spec.policy_dim,), ctx.adapter.spec.discrete)
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
    obs = _network_input(ctx, obs_stats, flat_obs)
    starts = jnp.zeros((1, obs.shape[0]), bool)  # a carry to reset is the caller's initial carry
    hidden, dist_params, _ = ctx.network.apply(params, hidden, obs[None], starts, method="unroll")
    dist_params = jax.tree.map(lambda x: x[0], dist_params)
    action = jax.vmap(lambda k, d: _action_from(ctx, d, k, deterministic))(keys, dist_params)
    return action, hidden


def agent_context(config: PPOConfig, state: TrainState, env, env_params, where: str) -> AgentContext:
    """The context of one agent, after checking that `state` is one agent made for it."""
    _check_single_agent(state)
    ctx = make_context(config, env, env_params)
    check_agent_fits(ctx, state, where)
    check_finite_agent(state, where)
    return ctx


def _over_batch(fn: Callable, batch_shape: tuple, key: jax.Array | None, obs):
    """`fn(key, one_obs)` over the leading `batch_shape` axes of `obs` (keys split per observation)."""
    if not batch_shape:
        return fn(key, obs)
    size = math.prod(batch_shape)
    flat = jnp.reshape(obs, (size,) + jnp.shape(obs)[len(batch_shape):])
    keys = None if key is None else jax.random.split(key, size)
    out = jax.vmap(fn, in_axes=(None if key is None else 0, 0))(keys, flat)
    return jnp.reshape(out, batch_shape + out.shape[1:])


def make_policy(
    config: PPOConfig, state: TrainState, deterministic: bool = False, env: Environment | None = None,
    env_params: EnvParams | None = None,
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """act(key, obs) -> action, for one raw gymnax observation or a batch of them.

    `obs` is one observation (the env's observation shape) or a batch
    [B, ...] (any leading axes): the result is one action, or [B, ...]
    actions; with a batch, observation i is acted on with the key
    jax.random.split(key, B)[i]. Deterministic: argmax (Discrete) or the
    Gaussian mean; Box actions are clipped to the action space, as the env
    receives them.

    A recurrent agent (`network="gru"`, "lstm") gets a stateful policy instead,
    act(key, obs, carry) -> (action, carry): start each episode from
    `act.initial_carry(batch_shape)` (one carry per observation of a batch) and
    pass the returned carry to the next step of that episode.

    Raises ValueError (before compiling) when `state` is a population, or was
    not trained on this config's env and network (both envs are named).
    """
    ctx = agent_context(config, state, env, env_params, "make_policy")
    if is_recurrent(ctx.network):
        return _recurrent_policy(ctx, state, deterministic)

    def act_one(key: jax.Array, obs) -> jax.Array:
        action = select_action(ctx, state.params, state.obs_stats, ctx.adapter.flatten_obs(obs), key,
                               deterministic)
        return ctx.adapter.env_action(action)

    def act(key: jax.Array, obs) -> jax.Array:
        return _over_batch(act_one, ctx.adapter.batch_shape(obs, "act"), key, obs)

    return act


def _flat_batch(ctx: AgentContext, obs, where: str) -> tuple[tuple, jax.Array]:
    """(batch shape, flat observations [N, D]) of one raw observation (N = 1) or a batch."""
    batch_shape = ctx.adapter.batch_shape(obs, where)
    size = math.prod(batch_shape)
    rows = jnp.reshape(obs, (size,) + jnp.shape(obs)[len(batch_shape):])
    return batch_shape, jax.vmap(ctx.adapter.flatten_obs)(rows)


def _recurrent_policy(ctx: AgentContext, state: TrainState, deterministic: bool) -> Callable:
    """make_policy for a recurrent agent: act(key, obs, carry) -> (action, carry)."""

    def act(key: jax.Array, obs, carry):
        batch_shape, flat = _flat_batch(ctx, obs, "act")
        size = flat.shape[0]
        keys = jax.random.split(key, size) if batch_shape else key[None]
        hidden = jax.tree.map(lambda h: jnp.reshape(h, (size,) + jnp.shape(h)[len(batch_shape):]), carry)
        action, hidden = act_on_batch(ctx, state.params, state.obs_stats, flat, keys, deterministic,
                                      hidden)
        unflat = lambda x: jnp.reshape(x, batch_shape + x.shape[1:])
        return ctx.adapter.env_action(unflat(action)), jax.tree.map(unflat, hidden)

    act.initial_carry = ctx.network.initialize_carry
    return act


def make_value_fn(config: PPOConfig, state: TrainState, env: Environment | None = None,
                  env_params: EnvParams | None = None) -> Callable[[jax.Array], jax.Array]:
    """value(obs) -> V(obs), for one raw gymnax observation ([]) or a batch of them ([B, ...]).

    A recurrent agent's is value(obs, carry) -> V(obs), the carry being the one
    its policy (`make_policy`) holds entering this observation's step.
    """
    ctx = agent_context(config, state, env, env_params, "make_value_fn")
    if is_recurrent(ctx.network):

        def recurrent_value(obs, carry) -> jax.Array:
            batch_shape, flat = _flat_batch(ctx, obs, "value")
            hidden = jax.tree.map(lambda h: jnp.reshape(h, (flat.shape[0],) + jnp.shape(h)[len(batch_shape):]),
                                  carry)
            obs_in = _network_input(ctx, state.obs_stats, flat)
            _, _, value = ctx.network.apply(state.params, hidden, obs_in[None],
                                            jnp.zeros((1, flat.shape[0]), bool), method="unroll")
            return jnp.reshape(value[0], batch_shape)

        return recurrent_value

    def value_one(_, obs) -> jax.Array:
        return ctx.network.apply(state.params,
                                 _network_input(ctx, state.obs_stats, ctx.adapter.flatten_obs(obs)),
                                 method="value")

    def value(obs) -> jax.Array:
        return _over_batch(value_one, ctx.adapter.batch_shape(obs, "value"), None, obs)

    return value


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


def evaluate(
    config: PPOConfig,
    state: TrainState,
    key: jax.Array,
    num_episodes: int = 100,
    deterministic: bool = True,
    env: Environment | None = None,
    env_params: EnvParams | None = None,
) -> jax.Array:
    """Undiscounted returns of `num_episodes` whole episodes: float32 [num_episodes].

    Jittable (jit it with config, num_episodes, deterministic, env static);
    episodes run in parallel and each ends at termination or truncation.
    Raises ValueError (before compiling) when `state` was not trained on this
    config's env and network.
    """
    num_episodes = check_positive_int(num_episodes, "num_episodes", "evaluate")
    ctx = agent_context(config, state, env, env_params, "evaluate")
    returns, _ = play_episodes(ctx, state.params, state.obs_stats, key, num_episodes, deterministic)
    return returns


def _best_of(output_or_state: TrainOutput | TrainState) -> TrainState:
    """The TrainState of a TrainOutput or TrainState; ValueError when it kept no best policy."""
    state = getattr(output_or_state, "state", output_or_state)
    if not isinstance(state, TrainState):
        raise TypeError(f"absolute_metric: expected a TrainOutput or TrainState, got "
                        f"{type(output_or_state).__name__}")
    if state.best is None:
        raise ValueError(
            "absolute_metric: this state kept no best policy: train with PPOConfig.eval_every > 0 "
            "(evaluation during training keeps the best-evaluated params in state.best)")
    return state


def best_state(output_or_state: TrainOutput | TrainState) -> TrainState:
    """The state with its params and observation statistics replaced by the best-evaluated ones
    (`state.best`), for `make_policy`, `evaluate` or `save`; leading batch axes are kept."""
    state = _best_of(output_or_state)
    return state.replace(params=state.best.params, obs_stats=state.best.obs_stats)


def absolute_metric(
    config: PPOConfig,
    output_or_state: TrainOutput | TrainState,
    key: jax.Array,
    num_episodes: int = 1000,
    deterministic: bool | None = None,
    env: Environment | None = None,
    env_params: EnvParams | None = None,
) -> jax.Array:
    """Stoix's "absolute metric": the best-evaluated policy of each agent, re-evaluated on many episodes.

    Evaluation during training (`config.eval_every` > 0) keeps in `state.best`
    the policy (params and frozen observation statistics) with the highest
    mean `eval_return`; this plays it for `num_episodes` fresh episodes.

    Args:
      config: the config it was trained with.
      output_or_state: a `TrainOutput` or `TrainState`, one agent or a
        population (any leading batch axes, e.g. [num_seeds]).
      key: agent i of the flattened population uses jax.random.split(key, n)[i].
      num_episodes: episodes per agent.
      deterministic: default `config.eval_deterministic`.

    Returns:
      float32 [*batch, num_episodes] undiscounted returns (`.mean(-1)`: the metric).
    """
    num_episodes = check_positive_int(num_episodes, "num_episodes", "absolute_metric")
    state = best_state(output_or_state)
    ctx = make_context(config, env, env_params)
    check_agent_fits(ctx, state, "absolute_metric")
    deterministic = config.eval_deterministic if deterministic is None else bool(deterministic)
    batch = tuple(state.update_step.shape)
    size = math.prod(batch)
    flat = jax.tree.map(lambda x: jnp.reshape(x, (size,) + x.shape[len(batch):]),
                        (state.params, state.obs_stats))

    @jax.jit
    def play(keys, params, obs_stats):
        one = lambda k, p, s: play_episodes(ctx, p, s, k, num_episodes, deterministic)[0]
        return jax.vmap(one)(keys, params, obs_stats)

    returns = play(jax.random.split(key, size), *flat)
    return jnp.reshape(returns, batch + (num_episodes,))
