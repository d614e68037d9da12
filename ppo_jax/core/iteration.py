"""One PPO iteration, the body of the scan over updates: rollout, GAE, update epochs, metrics."""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HParams
from ppo_jax.core.context import AgentContext
from ppo_jax.core.distributions import kl_divergence
from ppo_jax.core.gae import compute_gae
from ppo_jax.core.loss import LossOptions
from ppo_jax.core.normalize import init_reward_scaler, init_running_stats, observe
from ppo_jax.core.rollout import (
    EpisodeTally,
    RolloutCarry,
    bootstrap_values,
    collect_rollout,
    play_episodes,
)
from ppo_jax.core.types import Batch, BestAgent, RecurrentState, TrainState, Transition
from ppo_jax.core.update import UpdateSettings, init_optimizer_state, update_policy
from ppo_jax.networks.init import init_params
from ppo_jax.networks.interface import recurrent_step
from ppo_jax.networks.routing import Routing, legal_rows_missing
from ppo_jax.util.batching import any_member

METRIC_NAMES = (
    "timesteps", "episode_return", "episode_length", "num_episodes", "policy_loss",
    "value_loss", "entropy", "approx_kl", "kl", "clip_fraction", "explained_variance",
    "grad_norm", "learning_rate", "kl_coef", "kl_after_update", "early_stopped", "diverged",
    "eval_return", "eval_length",
)


def init_state(ctx: AgentContext, key: jax.Array, hparams: HParams) -> TrainState:
    """Fresh params, optimizer, normalizers and num_envs reset envs."""
    config = ctx.config
    key, net_key, env_key = jax.random.split(key, 3)
    params = init_params(ctx.network, net_key, ctx.adapter.spec.obs_dim)
    obs, env_state = ctx.place(jax.vmap(ctx.adapter.reset)(jax.random.split(env_key, config.num_envs)))
    return TrainState(
        env_name=ctx.adapter.env_name,
        custom_env=ctx.adapter.custom,
        params=params,
        opt_state=init_optimizer_state(params, hparams.max_grad_norm),
        obs_stats=init_running_stats((ctx.adapter.spec.obs_dim,)),
        reward_scaler=init_reward_scaler(config.num_envs),
        env_state=env_state,
        obs=obs,
        key=key,
        update_step=jnp.zeros((), jnp.int32),
        kl_coef=jnp.asarray(hparams.kl_coef, jnp.float32),
        best=init_best(params, init_running_stats((ctx.adapter.spec.obs_dim,)))
        if config.eval_every else None,
        memory=init_memory(ctx.network, config.num_envs) if config.recurrent else None,
    )


def init_memory(network: nn.Module, num_envs: int) -> RecurrentState:
    """Fresh recurrent memory for num_envs envs: the initial carry, every episode starting."""
    return RecurrentState(network.initialize_carry((num_envs,)), jnp.ones((num_envs,), bool))


def init_best(params, obs_stats) -> BestAgent:
    """No policy evaluated yet: eval_return -inf, so the first evaluation replaces it."""
    return BestAgent(params=params, obs_stats=obs_stats,
                     eval_return=jnp.asarray(-jnp.inf, jnp.float32),
                     update_step=jnp.zeros((), jnp.int32))


def learning_rate_at(config: PPOConfig, hparams: HParams, update_step: jax.Array) -> jax.Array:
    """The rate of update `u` (0-based), constant within an update: with `anneal_lr`,
    lr * max(1 - u / N, 0) with N = config.num_updates, else lr.

    The schedule is a function of the update count and the config's budget only.
    Extending a run (its state continued by a trainer for config.replace(
    total_timesteps=larger)) re-plans it over the new N: from the next update u
    on, the rate is lr * (1 - u / N_new), as if the run had been planned with
    the larger budget from the start; it steps up at the resume point and
    reaches 0 at the new end.
    """
    lr = jnp.asarray(hparams.learning_rate, jnp.float32)
    if not config.anneal_lr:
        return lr
    frac = 1.0 - update_step.astype(jnp.float32) / config.num_updates
    return lr * jnp.maximum(frac, 0.0)


# Bounds on the adaptive beta. The paper's rule has none, but in float32 a beta
# halved ~150 times underflows to exactly 0, which doubling can never leave
# (and one doubled ~128 times overflows to inf, and inf * KL = 0 is NaN).
KL_COEF_MIN, KL_COEF_MAX = 1e-6, 1e6


def adapt_kl_coef(kl_coef: jax.Array, kl: jax.Array, kl_target) -> jax.Array:
    """PPO paper, section 4: halve beta if d < d_targ / 1.5, double if d > 1.5 d_targ.

    The result is kept in [KL_COEF_MIN, KL_COEF_MAX] so beta can always recover.
    """
    kl_coef = jnp.where(kl < kl_target / 1.5, kl_coef / 2.0, kl_coef)
    kl_coef = jnp.where(kl > kl_target * 1.5, kl_coef * 2.0, kl_coef)
    return jnp.clip(kl_coef, KL_COEF_MIN, KL_COEF_MAX)


def explained_variance(values: jax.Array, targets: jax.Array) -> jax.Array:
    """1 - Var[target - value] / Var[target] (NaN when targets are constant)."""
    var_targets = jnp.var(targets)
    return jnp.where(var_targets > 0, 1.0 - jnp.var(targets - values) / var_targets, jnp.nan)


def reshaped_batch(traj: Transition, advantages: jax.Array, targets: jax.Array, reshape) -> Batch:
    """The Batch of a rollout's training fields, each [T, B, ...] leaf passed through `reshape`."""
    return Batch(
        obs=reshape(traj.obs),
        action=reshape(traj.action),
        log_prob=reshape(traj.log_prob),
        value=reshape(traj.value),
        advantage=reshape(advantages),
        target=reshape(targets),
        dist_params=jax.tree.map(reshape, traj.dist_params),
    )


def group_major(x: jax.Array, groups: int, place=None) -> jax.Array:
    """[K, B, ...] -> [K * B, ...] with group g's envs (b in g * B / G ... (g + 1) * B / G - 1)
    in rows g * K * B / G ... (g + 1) * K * B / G - 1, each group in (k, b) order. One group:
    the plain reshape, row k * B + b. `place(x, axis)` (`AgentContext.place`) keeps each
    group's rows on its devices through the reshapes (XLA would otherwise gather them)."""
    if groups == 1:
        return x.reshape((-1,) + x.shape[2:])
    place = place or (lambda tree, axis=0: tree)
    k, num_envs = x.shape[:2]
    x = place(x.reshape((k, groups, num_envs // groups) + x.shape[2:]), 1)
    x = place(jnp.swapaxes(x, 0, 1), 0)
    return place(x.reshape((k * num_envs,) + x.shape[3:]), 0)


def to_batch(traj: Transition, advantages: jax.Array, targets: jax.Array, groups: int = 1,
             place=None) -> Batch:
    """[T, B, ...] rollout -> flat [T * B, ...] batch, group-major (`group_major`)."""
    return reshaped_batch(traj, advantages, targets, lambda x: group_major(x, groups, place))


def to_sequences(traj: Transition, advantages: jax.Array, targets: jax.Array, length: int,
                 groups: int = 1, place=None) -> Batch:
    """[T, B, ...] rollout -> S = (T / length) * B sequences of `length` steps: leaves
    [S, length, ...], sequence k * B + b holding env b's steps k * length ... (k + 1) * length - 1,
    with the carry stored entering its first step (`Batch.hidden`, leaves [S, ...]).
    With `groups` > 1 the sequences are group-major (`group_major` over (k, b))."""
    num_steps, num_envs = traj.reward.shape
    chunks = num_steps // length

    def split(x):  # [T, B, ...] -> [chunks, B, length, ...] -> [chunks * B, length, ...]
        x = jnp.swapaxes(x.reshape((chunks, length, num_envs) + x.shape[2:]), 1, 2)
        return group_major(x, groups, place)

    first_steps = lambda h: group_major(h[::length], groups, place)
    return reshaped_batch(traj, advantages, targets, split).replace(
        episode_start=split(traj.episode_start), hidden=jax.tree.map(first_steps, traj.hidden))


def batch_apply_fn(network: nn.Module, recurrent: bool) -> Callable:
    """apply(params, batch) -> (dist_params, value) shaped like batch.advantage: the
    network on a flat batch, or a recurrent one replayed over each sequence from its
    stored carry (resetting where an episode starts)."""
    if not recurrent:
        return lambda params, batch: network.apply(params, batch.obs)

    def apply(params, batch: Batch):
        time_major = lambda x: jnp.swapaxes(x, 0, 1)  # [S, L, ...] <-> [L, S, ...]
        _, dist_params, value = network.apply(params, batch.hidden, time_major(batch.obs),
                                              time_major(batch.episode_start), method="unroll")
        return jax.tree.map(time_major, (dist_params, value))

    return apply


def mean_batch_kl(apply_fn: Callable, params, batch: Batch) -> jax.Array:
    """Exact KL[pi_old, pi_new] averaged over the batch: pi_old is the acting policy
    (`batch.dist_params`), pi_new the one `params` give."""
    new, _ = apply_fn(params, batch)
    return kl_divergence(batch.dist_params, new).mean()


def recurrent_value(network: nn.Module, params, hidden, obs: jax.Array, episode_start: jax.Array):
    """V of observations obs [N, D] seen with carry `hidden` (leaves [N, ...]), one step: [N]."""
    return recurrent_step(network, params, hidden, obs, episode_start)[2]


def next_state_values(ctx: AgentContext, params, traj: Transition, carry: RolloutCarry) -> jax.Array:
    """V(s'_t) for GAE, float32 [T, B] (`rollout.bootstrap_values`): the value of the
    observation after the rollout, and of each truncated step's final observation."""
    network = ctx.network
    groups = ctx.config.data_parallel
    last_obs = observe(carry.obs_stats, carry.obs, ctx.config.normalize_observations,
                       ctx.adapter.spec.mask_span)
    if carry.memory is None:
        value_fn = functools.partial(network.apply, params, method="value")
        return bootstrap_values(traj, value_fn(last_obs), value_fn, groups=groups, place=ctx.place)
    memory = carry.memory
    last_value = recurrent_value(network, params, memory.hidden, last_obs, memory.episode_start)
    # The carry after step t (entering step t + 1, before any reset): a final
    # observation continues its episode, so it is seen with that carry, unreset.
    carry_after = jax.tree.map(lambda h, last: jnp.concatenate([h[1:], last[None]]),
                               traj.hidden, memory.hidden)
    final_value = lambda inputs: recurrent_value(network, params, inputs[1], inputs[0],
                                                 jnp.zeros(inputs[0].shape[:1], bool))
    return bootstrap_values(traj, last_value, final_value, (traj.next_obs, carry_after), groups, ctx.place)


def is_diverged(params, loss_metrics: dict) -> jax.Array:
    """1.0 when the params after an update, or the update's losses or gradient
    norm, hold a non-finite value; else 0.0 (float32 []).

    A diverged run does not stop by itself: a NaN policy still acts (a
    Categorical's argmax over NaN logits is action 0), so its episode returns
    stay finite and would look like a bad but valid run. This flag is what
    `final_return`, `SweepResult` and the progress bar rank and report on.
    """
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(params)]))
    for name in ("policy_loss", "value_loss", "grad_norm"):
        finite = finite & jnp.isfinite(loss_metrics[name])
    return 1.0 - finite.astype(jnp.float32)


def episode_metrics(episodes: EpisodeTally) -> dict:
    """Means over the episodes completed in one rollout (NaN when none did)."""
    count = episodes.count
    safe = jnp.maximum(count, 1.0)
    return {
        "episode_return": jnp.where(count > 0, episodes.return_sum / safe, jnp.nan),
        "episode_length": jnp.where(count > 0, episodes.length_sum / safe, jnp.nan),
        "num_episodes": count,
    }


# --- evaluation during training ------------------------------------------------------
EVAL_KEY_TAG = 1  # folded into the update's key: evaluation never changes the training keys


def eval_key(state_key: jax.Array) -> jax.Array:
    """The key of the evaluation after the update that starts from `state.key`."""
    update_key = jax.random.split(state_key, 3)[2]
    return jax.random.fold_in(update_key, EVAL_KEY_TAG)


def evaluation(ctx: AgentContext, state: TrainState, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean return, mean length), float32 []: `config.eval_episodes` whole episodes of the
    current policy on fresh env copies, with the state's observation statistics frozen."""
    config = ctx.config
    returns, lengths = play_episodes(ctx, state.params, state.obs_stats, key, config.eval_episodes,
                                     config.eval_deterministic)
    return returns.mean(), lengths.astype(jnp.float32).mean()


def evaluate_if_due(ctx: AgentContext, state: TrainState, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(eval_return, eval_length) after every `eval_every`-th update, NaN at the others.

    The evaluation runs under a `lax.cond` whose predicate is true when any
    member of the population is due, so updates without one skip it.
    """
    due = jnp.mod(state.update_step, ctx.config.eval_every) == 0
    nan = jnp.full((), jnp.nan, jnp.float32)
    ret, length = jax.lax.cond(any_member(due), lambda: evaluation(ctx, state, key),
                               lambda: (nan, nan))
    return jnp.where(due, ret, nan), jnp.where(due, length, nan)


def track_best(best: BestAgent, state: TrainState, eval_return: jax.Array) -> BestAgent:
    """`best`, replaced by the state's policy where its evaluation beat it (NaN never does)."""
    better = eval_return > best.eval_return
    pick = lambda new, old: jnp.where(better, new, old)
    return BestAgent(
        params=jax.tree.map(pick, state.params, best.params),
        obs_stats=jax.tree.map(pick, state.obs_stats, best.obs_stats),
        eval_return=pick(eval_return, best.eval_return),
        update_step=pick(state.update_step, best.update_step),
    )


def with_evaluation(ctx: AgentContext, state_key: jax.Array, state: TrainState, metrics: dict):
    """Adds eval_return / eval_length to an update's metrics (and the best policy to the state)."""
    if not ctx.config.eval_every:
        nan = jnp.full((), jnp.nan, jnp.float32)
        return state, {**metrics, "eval_return": nan, "eval_length": nan}
    eval_return, eval_length = evaluate_if_due(ctx, state, eval_key(state_key))
    best = state.best if state.best is not None else init_best(state.params, state.obs_stats)
    state = state.replace(best=track_best(best, state, eval_return))
    return state, {**metrics, "eval_return": eval_return, "eval_length": eval_length}


def _raise_if_no_legal_action(env_name: str, mask_key: str, missing) -> None:
    missing = int(np.sum(np.asarray(missing)))
    if missing:
        raise ValueError(
            f"{env_name}: {missing} observation(s) of a rollout have no legal action: the action mask "
            f"(observation leaf {mask_key!r}) marks every action illegal (for a multi-discrete action: "
            "every choice of some dimension). The env must leave at least one legal action in every "
            "state it hands over, including the first of each episode")


def check_action_masks(ctx: AgentContext, obs: jax.Array) -> None:
    """Raises, from the host once per rollout, when some observation of obs [T, B, D] has no
    legal action (a mask all False would otherwise sample from meaningless logits)."""
    spec = ctx.adapter.spec
    if spec.mask_span is None:
        return
    missing = legal_rows_missing(Routing(mask_span=spec.mask_span, action_dims=spec.action_dims), obs)
    jax.debug.callback(functools.partial(_raise_if_no_legal_action, ctx.adapter.env_name, spec.action_mask),
                       missing)


def ppo_iteration(state: TrainState, _, *, ctx: AgentContext, hparams: HParams):
    """One PPO iteration: rollout, GAE, update epochs, metrics. Scan body over updates."""
    config, network = ctx.config, ctx.network
    key, rollout_key, update_key = jax.random.split(state.key, 3)
    rollout_carry = RolloutCarry(
        *ctx.place((state.env_state, state.obs)), state.obs_stats,
        state.reward_scaler.replace(discounted_return=ctx.place(state.reward_scaler.discounted_return)),
        EpisodeTally.zeros(), ctx.place(state.memory),
    )
    rollout_carry, traj = collect_rollout(
        rollout_carry,
        rollout_key,
        adapter=ctx.adapter,
        network=network,
        params=state.params,
        gamma=hparams.gamma,
        num_steps=config.num_steps,
        normalize_observations=config.normalize_observations,
        normalize_rewards=config.normalize_rewards,
        place=ctx.place,
    )
    check_action_masks(ctx, traj.obs)
    next_values = next_state_values(ctx, state.params, traj, rollout_carry)
    advantages, targets = compute_gae(
        traj.reward, traj.value, next_values, traj.terminated, traj.done,
        hparams.gamma, hparams.gae_lambda,
    )
    groups = config.data_parallel
    if config.recurrent:
        batch = to_sequences(traj, advantages, targets, config.bptt_length, groups, ctx.place)
    else:
        batch = to_batch(traj, advantages, targets, groups, ctx.place)
    apply_fn = batch_apply_fn(network, config.recurrent)
    learning_rate = learning_rate_at(config, hparams, state.update_step)
    params, opt_state, loss_metrics = update_policy(
        state.params,
        state.opt_state,
        batch,
        update_key,
        apply_fn=apply_fn,
        settings=UpdateSettings(hparams, learning_rate, state.kl_coef),
        options=LossOptions.from_config(config),
        update_epochs=config.update_epochs,
        num_minibatches=config.num_minibatches,
        early_stop=config.early_stop,
        groups=groups,
        place=None if ctx.placement is None else ctx.place,
    )
    # The KL between the policies before and after the whole update: what the
    # adaptive rule reacts to (one more policy pass, so only where it is used).
    kl_coef, kl_after_update = state.kl_coef, jnp.asarray(jnp.nan, jnp.float32)
    if config.objective == "adaptive_kl":
        kl_after_update = mean_batch_kl(apply_fn, params, batch)
        kl_coef = adapt_kl_coef(kl_coef, kl_after_update, hparams.kl_target)

    metrics = {
        "timesteps": (state.update_step + 1).astype(jnp.float32) * config.batch_size,
        **episode_metrics(rollout_carry.episodes),
        **loss_metrics,
        "explained_variance": explained_variance(batch.value, batch.target),
        "learning_rate": learning_rate,
        "kl_coef": state.kl_coef,
        "kl_after_update": kl_after_update,
        "diverged": is_diverged(params, loss_metrics),
    }
    new_state = state.replace(
        params=params,
        opt_state=opt_state,
        obs_stats=rollout_carry.obs_stats,
        reward_scaler=rollout_carry.reward_scaler,
        env_state=rollout_carry.env_state,
        obs=rollout_carry.obs,
        memory=rollout_carry.memory,
        key=key,
        update_step=state.update_step + 1,
        kl_coef=kl_coef,
    )
    return with_evaluation(ctx, state.key, new_state, metrics)
