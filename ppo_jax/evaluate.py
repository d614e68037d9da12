"""Using a trained agent: policy and value functions, and whole-episode evaluation.

All of them use the observation-normalization statistics stored in the state,
frozen (evaluation never updates them).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from ppo_jax.config import PPOConfig
from ppo_jax.context import AgentContext, check_agent_fits, check_finite_agent, make_context
from ppo_jax.envs import EnvParams, Environment, LogState
from ppo_jax.networks import ActorCritic, draw_policy_noise, greedy_action, sample_from_noise
from ppo_jax.normalize import observe
from ppo_jax.types import TrainState
from ppo_jax.validation import check_positive_int


def _check_single_agent(state: TrainState) -> None:
    if state.update_step.ndim != 0:
        raise ValueError(
            f"state holds a population (leading axis {state.update_step.shape}); pick one agent "
            "first, e.g. jax.tree.map(lambda x: x[0], outs.state)"
        )


def _network_input(ctx: AgentContext, state: TrainState, flat_obs: jax.Array) -> jax.Array:
    """A flattened observation as the network sees it (frozen normalization statistics)."""
    return observe(state.obs_stats, flat_obs, ctx.config.normalize_observations)


def _select_action(ctx: AgentContext, state: TrainState, flat_obs: jax.Array, key: jax.Array,
                   deterministic: bool) -> jax.Array:
    """The policy's action (before the env's clipping), as in the rollout."""
    dist_params = ctx.network.apply(state.params, _network_input(ctx, state, flat_obs),
                                    method=ActorCritic.policy)
    if deterministic:
        return greedy_action(dist_params)
    noise = draw_policy_noise(key, (ctx.adapter.spec.policy_dim,), ctx.adapter.spec.discrete)
    return sample_from_noise(dist_params, noise)


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

    Raises ValueError (before compiling) when `state` is a population, or was
    not trained on this config's env and network (both envs are named).
    """
    ctx = agent_context(config, state, env, env_params, "make_policy")

    def act_one(key: jax.Array, obs) -> jax.Array:
        action = _select_action(ctx, state, ctx.adapter.flatten_obs(obs), key, deterministic)
        return ctx.adapter.env_action(action)

    def act(key: jax.Array, obs) -> jax.Array:
        return _over_batch(act_one, ctx.adapter.batch_shape(obs, "act"), key, obs)

    return act


def make_value_fn(config: PPOConfig, state: TrainState, env: Environment | None = None,
                  env_params: EnvParams | None = None) -> Callable[[jax.Array], jax.Array]:
    """value(obs) -> V(obs), for one raw gymnax observation ([]) or a batch of them ([B, ...])."""
    ctx = agent_context(config, state, env, env_params, "make_value_fn")

    def value_one(_, obs) -> jax.Array:
        return ctx.network.apply(state.params, _network_input(ctx, state, ctx.adapter.flatten_obs(obs)),
                                 method=ActorCritic.value)

    def value(obs) -> jax.Array:
        return _over_batch(value_one, ctx.adapter.batch_shape(obs, "value"), None, obs)

    return value


@struct.dataclass
class _EpisodeCarry:
    key: jax.Array
    env_state: LogState
    obs: jax.Array
    done: jax.Array
    episode_return: jax.Array


def _run_episode(key, *, ctx, state: TrainState, deterministic: bool) -> jax.Array:
    """Return of one whole episode (until termination or truncation)."""
    key, reset_key = jax.random.split(key)
    obs, env_state = ctx.adapter.reset(reset_key)

    def body(c: _EpisodeCarry) -> _EpisodeCarry:
        key, act_key, step_key = jax.random.split(c.key, 3)
        action = _select_action(ctx, state, c.obs, act_key, deterministic)
        step = ctx.adapter.step(step_key, c.env_state, action)
        done = step.terminated | step.truncated
        return _EpisodeCarry(key, step.state, step.obs, done, c.episode_return + step.reward)

    init = _EpisodeCarry(key, env_state, obs, jnp.asarray(False), jnp.zeros((), jnp.float32))
    final = jax.lax.while_loop(lambda c: ~c.done, body, init)
    return final.episode_return


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
    keys = jax.random.split(key, num_episodes)
    return jax.vmap(lambda k: _run_episode(k, ctx=ctx, state=state, deterministic=deterministic))(keys)
