"""Using a trained agent: policy and value functions, and whole-episode evaluation.

All of them use the observation-normalization statistics stored in the state,
frozen (evaluation never updates them).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ppo_jax._moved import moved_names
from ppo_jax.config.config import PPOConfig
from ppo_jax.core.context import (
    AgentContext,
    check_agent_fits,
    check_finite_agent,
    make_context,
)
from ppo_jax.core.rollout import (
    act_on_batch,
    network_input,
    play_episodes,
    select_action,
)
from ppo_jax.core.types import TrainState
from ppo_jax.envs import Environment, EnvParams
from ppo_jax.networks.interface import is_recurrent, recurrent_step
from ppo_jax.networks.routing import spans_of
from ppo_jax.outputs import TrainOutput
from ppo_jax.util.checks import check_positive_int


def _check_single_agent(state: TrainState) -> None:
    if state.update_step.ndim != 0:
        raise ValueError(
            f"state holds a population (leading axis {state.update_step.shape}); pick one agent "
            "first, e.g. jax.tree.map(lambda x: x[0], outs.state)"
        )


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

    Examples:
      An untrained agent (`trainer.init`) acting on one observation and on a batch:

      >>> import jax, jax.numpy as jnp, ppo_jax
      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=512)
      >>> agent = ppo_jax.make_trainer(config).init(jax.random.key(0), config.hparams)
      >>> act = ppo_jax.make_policy(config, agent, deterministic=True)
      >>> act(jax.random.key(1), jnp.zeros(4)).shape, act(jax.random.key(1), jnp.zeros((5, 4))).shape
      ((), (5,))
    """
    ctx = agent_context(config, state, env, env_params, "make_policy")
    if is_recurrent(ctx.network):
        return _recurrent_policy(ctx, state, deterministic)
    if ctx.adapter.spec.structured:
        def act_flat(key: jax.Array, obs) -> jax.Array:
            batch_shape, flat = _flat_batch(ctx, obs, "act", ctx.config.policy_obs_key)
            keys = jax.random.split(key, flat.shape[0]) if batch_shape else key[None]
            action = jax.vmap(lambda k, o: select_action(ctx, state.params, state.obs_stats, o, k,
                                                         deterministic))(keys, flat)
            return ctx.adapter.env_action(jnp.reshape(action, batch_shape + action.shape[1:]))
        return act_flat

    def act_one(key: jax.Array, obs) -> jax.Array:
        action = select_action(ctx, state.params, state.obs_stats, ctx.adapter.flatten_obs(obs), key,
                               deterministic)
        return ctx.adapter.env_action(action)

    def act(key: jax.Array, obs) -> jax.Array:
        return _over_batch(act_one, ctx.adapter.batch_shape(obs, "act"), key, obs)

    return act


def _flat_batch(ctx: AgentContext, obs, where: str, key: str | None = None) -> tuple[tuple, jax.Array]:
    """(batch shape, flat observations [N, D]) of one raw observation (N = 1) or a batch.

    A structured observation may also be just the part under `key` (the policy's or the
    critic's observation key): the rest of the flat vector, which that network never
    reads, is zeros.
    """
    layout = ctx.adapter.spec.obs_layout
    if layout is not None:
        partial = None if key is None else layout.sublayout(key)
        if layout.batch_shape(obs) is None and partial is not None and partial.batch_shape(obs) is not None:
            mask = ctx.adapter.spec.action_mask
            if mask is not None and not (mask == key or mask.startswith(key + ".")):
                raise ValueError(
                    f"{where}: obs holds only the observation key {key!r}, but {ctx.adapter.env_name}'s "
                    f"policy also reads its action mask {mask!r}: pass the whole observation")
            batch_shape = partial.batch_shape(obs)
            size = math.prod(batch_shape)
            part = jnp.reshape(partial.flatten(obs), (size, partial.dim))
            flat, start = jnp.zeros((size, layout.dim), jnp.float32), 0
            for lo, hi in spans_of(layout.leaves_under(key)):
                flat = flat.at[:, lo:hi].set(part[:, start:start + hi - lo])
                start += hi - lo
            return batch_shape, flat
        batch_shape = ctx.adapter.batch_shape(obs, where)
        return batch_shape, jnp.reshape(layout.flatten(obs), (math.prod(batch_shape), layout.dim))
    batch_shape = ctx.adapter.batch_shape(obs, where)
    size = math.prod(batch_shape)
    rows = jnp.reshape(obs, (size,) + jnp.shape(obs)[len(batch_shape):])
    return batch_shape, jax.vmap(ctx.adapter.flatten_obs)(rows)


def _recurrent_policy(ctx: AgentContext, state: TrainState, deterministic: bool) -> Callable:
    """make_policy for a recurrent agent: act(key, obs, carry) -> (action, carry)."""

    def act(key: jax.Array, obs, carry):
        batch_shape, flat = _flat_batch(ctx, obs, "act", ctx.config.policy_obs_key)
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
            batch_shape, flat = _flat_batch(ctx, obs, "value", ctx.config.policy_obs_key)
            hidden = jax.tree.map(lambda h: jnp.reshape(h, (flat.shape[0],) + jnp.shape(h)[len(batch_shape):]),
                                  carry)
            obs_in = network_input(ctx, state.obs_stats, flat)
            _, _, value = recurrent_step(ctx.network, state.params, hidden, obs_in,
                                         jnp.zeros(flat.shape[:1], bool))
            return jnp.reshape(value, batch_shape)

        return recurrent_value

    if ctx.adapter.spec.structured:
        def value_flat(obs) -> jax.Array:
            batch_shape, flat = _flat_batch(ctx, obs, "value", ctx.config.value_obs_key)
            values = ctx.network.apply(state.params, network_input(ctx, state.obs_stats, flat),
                                       method="value")
            return jnp.reshape(values, batch_shape)
        return value_flat

    def value_one(_, obs) -> jax.Array:
        return ctx.network.apply(state.params,
                                 network_input(ctx, state.obs_stats, ctx.adapter.flatten_obs(obs)),
                                 method="value")

    def value(obs) -> jax.Array:
        return _over_batch(value_one, ctx.adapter.batch_shape(obs, "value"), None, obs)

    return value


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


# Names that moved out of this module, still served with a DeprecationWarning.
__getattr__ = moved_names(__name__, {
    'DEFAULT_EPISODE_STEP_LIMIT': 'ppo_jax.core.rollout',
    'act_on_batch': 'ppo_jax.core.rollout',
    'episode_step_limit': 'ppo_jax.core.rollout',
    'play_episodes': 'ppo_jax.core.rollout',
    'select_action': 'ppo_jax.core.rollout',
})
