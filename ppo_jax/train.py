"""make_trainer / make_train / train_seeds: all of training as one pure function."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.batching import any_member
from ppo_jax.config import HParams, PPOConfig, validate_hparams
from ppo_jax.context import AgentContext, make_context
from ppo_jax.distributions import kl_divergence
from ppo_jax.envs import Environment, EnvParams
from ppo_jax.evaluate import play_episodes
from ppo_jax.gae import compute_gae
from ppo_jax.loggers import LoggerArg, bind_logger, seed_agents
from ppo_jax.loss import LossOptions
from ppo_jax.networks import init_params
from ppo_jax.normalize import init_reward_scaler, init_running_stats, observe
from ppo_jax.population import compile_population
from ppo_jax.progress import Progress, resolve_progress, with_progress
from ppo_jax.rollout import EpisodeTally, RolloutCarry, bootstrap_values, collect_rollout
from ppo_jax.types import Batch, BestAgent, RecurrentState, TrainOutput, TrainState, Transition
from ppo_jax.update import UpdateSettings, init_optimizer_state, update_policy
from ppo_jax.validation import check_integer, check_positive_int

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
    obs, env_state = jax.vmap(ctx.adapter.reset)(jax.random.split(env_key, config.num_envs))
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


def to_batch(traj: Transition, advantages: jax.Array, targets: jax.Array) -> Batch:
    """[T, B, ...] rollout -> flat [T * B, ...] batch."""
    return reshaped_batch(traj, advantages, targets, lambda x: x.reshape((-1,) + x.shape[2:]))


def to_sequences(traj: Transition, advantages: jax.Array, targets: jax.Array, length: int) -> Batch:
    """[T, B, ...] rollout -> S = (T / length) * B sequences of `length` steps: leaves
    [S, length, ...], sequence k * B + b holding env b's steps k * length ... (k + 1) * length - 1,
    with the carry stored entering its first step (`Batch.hidden`, leaves [S, ...])."""
    num_steps, num_envs = traj.reward.shape
    chunks = num_steps // length

    def split(x):  # [T, B, ...] -> [chunks * B, length, ...]
        x = x.reshape((chunks, length, num_envs) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((chunks * num_envs, length) + x.shape[3:])

    first_steps = lambda h: h[::length].reshape((chunks * num_envs,) + h.shape[2:])
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
    _, _, value = network.apply(params, hidden, obs[None], episode_start[None], method="unroll")
    return value[0]


def next_state_values(ctx: AgentContext, params, traj: Transition, carry: RolloutCarry) -> jax.Array:
    """V(s'_t) for GAE, float32 [T, B] (`rollout.bootstrap_values`): the value of the
    observation after the rollout, and of each truncated step's final observation."""
    network = ctx.network
    last_obs = observe(carry.obs_stats, carry.obs, ctx.config.normalize_observations)
    if carry.memory is None:
        value_fn = functools.partial(network.apply, params, method="value")
        return bootstrap_values(traj, value_fn(last_obs), value_fn)
    memory = carry.memory
    last_value = recurrent_value(network, params, memory.hidden, last_obs, memory.episode_start)
    # The carry after step t (entering step t + 1, before any reset): a final
    # observation continues its episode, so it is seen with that carry, unreset.
    carry_after = jax.tree.map(lambda h, last: jnp.concatenate([h[1:], last[None]]),
                               traj.hidden, memory.hidden)
    final_value = lambda inputs: recurrent_value(network, params, inputs[1], inputs[0],
                                                 jnp.zeros(inputs[0].shape[:1], bool))
    return bootstrap_values(traj, last_value, final_value, (traj.next_obs, carry_after))


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


def ppo_iteration(state: TrainState, _, *, ctx: AgentContext, hparams: HParams):
    """One PPO iteration: rollout, GAE, update epochs, metrics. Scan body over updates."""
    config, network = ctx.config, ctx.network
    key, rollout_key, update_key = jax.random.split(state.key, 3)
    rollout_carry = RolloutCarry(
        state.env_state, state.obs, state.obs_stats, state.reward_scaler, EpisodeTally.zeros(),
        state.memory,
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
    )
    next_values = next_state_values(ctx, state.params, traj, rollout_carry)
    advantages, targets = compute_gae(
        traj.reward, traj.value, next_values, traj.terminated, traj.done,
        hparams.gamma, hparams.gae_lambda,
    )
    if config.recurrent:
        batch = to_sequences(traj, advantages, targets, config.bptt_length)
    else:
        batch = to_batch(traj, advantages, targets)
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


class Trainer(NamedTuple):
    """Pure pieces of training in chunks.

    init(key, hparams) -> TrainState
    run(state, hparams, num_updates, agent_id=None) -> (TrainState, metrics: dict of [num_updates])

    `agent_id` (int32 [], optional) labels the agent's rows for a logger (default:
    its position in the vmapped population). `run` is already jitted, with `num_updates` static: call it directly (one
    compile per distinct count), or inside your own jit/vmap with the count a
    Python int (`jax.jit(trainer.run, static_argnums=2)`).
    """

    init: Callable[..., TrainState]
    run: Callable[..., tuple[TrainState, dict[str, jax.Array]]]


def agent_row(state: TrainState, metrics: dict, agent_id: jax.Array | None) -> jax.Array:
    """One agent's row for loggers, float32 [2 + len(METRIC_NAMES)]:
    [agent id (-1: its position in the population), update, *metrics in METRIC_NAMES order]."""
    ident = jnp.asarray(-1.0 if agent_id is None else agent_id, jnp.float32)
    values = [metrics[name] for name in METRIC_NAMES]
    return jnp.stack([ident, state.update_step.astype(jnp.float32)]
                     + [jnp.asarray(v, jnp.float32) for v in values])


def run_updates(state: TrainState, hparams: HParams, num_updates: int, agent_id=None, *,
                ctx: AgentContext, hook, sink) -> tuple[TrainState, dict]:
    """`num_updates` PPO iterations in one scan: the jitted core of `Trainer.run`."""
    if ctx.config.eval_every and state.best is None:  # a state from a run without evaluation
        state = state.replace(best=init_best(state.params, state.obs_stats))
    body = functools.partial(ppo_iteration, ctx=ctx, hparams=hparams)
    if hook is not None or sink is not None:
        body = with_progress(body, hook, ctx.config.num_updates, sink,
                             functools.partial(agent_row, agent_id=agent_id))
    return jax.lax.scan(body, state, None, length=num_updates)


def check_num_updates(num_updates, config: PPOConfig) -> int:
    """`num_updates` as a Python int; clear errors for a traced count or one past the schedule."""
    if isinstance(num_updates, jax.core.Tracer):
        raise TypeError(
            "Trainer.run: num_updates is traced, but it fixes the length of the update loop, so it "
            "must be a Python int: call trainer.run(state, hparams, n) directly (it is already "
            "jitted with num_updates static), or jit it with jax.jit(trainer.run, static_argnums=2) "
            "/ static_argnames='num_updates'"
        )
    num_updates = check_integer(num_updates, "num_updates", "Trainer.run")
    if num_updates < 0:
        raise ValueError(f"Trainer.run: num_updates must be >= 0, got {num_updates}")
    if config.anneal_lr and num_updates > config.num_updates:
        raise ValueError(_past_schedule_message(config, 0, num_updates))
    return num_updates


def check_schedule(state: TrainState, num_updates: int, config: PPOConfig) -> None:
    """With `anneal_lr`, refuses updates past config.num_updates (where the rate is 0).

    Checked when the state's update count is concrete (a call outside jit/vmap).
    """
    if not config.anneal_lr or isinstance(state.update_step, jax.core.Tracer):
        return
    done = int(np.max(np.asarray(state.update_step)))
    if done + num_updates > config.num_updates:
        raise ValueError(_past_schedule_message(config, done, num_updates))


def _past_schedule_message(config: PPOConfig, done: int, num_updates: int) -> str:
    needed = (done + num_updates) * config.batch_size
    return (
        f"Trainer.run: {num_updates} updates from update {done} pass the end of the learning-rate "
        f"schedule (config.num_updates = {config.num_updates} for total_timesteps = "
        f"{config.total_timesteps}), after which the annealed rate is 0. To extend the run, make "
        f"a trainer for the larger budget: ppo_jax.make_trainer(config.replace(total_timesteps="
        f"{needed})); the rate then anneals over the new total (lr * (1 - update / new "
        f"num_updates), see learning_rate_at). Or set anneal_lr=False for a constant rate."
    )


def make_trainer(config: PPOConfig, env: Environment | None = None, env_params: EnvParams | None = None,
                 progress: Progress = None, logger: LoggerArg = None) -> Trainer:
    """`Trainer` for `config`; `env` (a gymnax Environment) overrides `config.env`.

    Running N updates and then M more equals running N + M at once: the
    learning-rate schedule, normalizers and all keys live in the state.
    `run` is jitted with `num_updates` static. With `anneal_lr`, a run may not
    go past `config.num_updates` (the rate would be 0 there): extend a run by
    continuing its state with `make_trainer(config.replace(total_timesteps=
    larger))` (see `learning_rate_at` for the schedule that then applies).
    Concrete `hparams` are checked (`validate_hparams`) before compiling.
    `progress`: None/False (off, no callback compiled), True (a tqdm bar) or a
    hook taking a `ppo_jax.ProgressReport`, called once per update for the
    whole vmapped population (see `ppo_jax.progress`).
    `logger`: None, a `ppo_jax.loggers.Logger` (or a list of them) or one
    already bound to named agents (`bind_logger`); it receives every agent's
    metrics through the progress bar's callback (one host call per reported
    update). `run(..., agent_id=i)` labels agent i's rows (default: the
    agent's position in the vmapped population).
    """
    ctx = make_context(config, env, env_params)
    sink = bind_logger(logger, config, METRIC_NAMES)
    scan = jax.jit(functools.partial(run_updates, ctx=ctx, hook=resolve_progress(progress), sink=sink),
                   static_argnames="num_updates")

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams if hparams is None else hparams
        validate_hparams(hparams)
        return init_state(ctx, key, hparams)

    def run(state: TrainState, hparams: HParams | None = None, num_updates: int | None = None,
            agent_id: jax.Array | None = None):
        hparams = config.hparams if hparams is None else hparams
        validate_hparams(hparams)
        num_updates = check_num_updates(config.num_updates if num_updates is None else num_updates,
                                        config)
        check_schedule(state, num_updates, config)
        # The state records the env it is trained on (a static field).
        state = state.replace(env_name=ctx.adapter.env_name, custom_env=ctx.adapter.custom)
        return scan(state, hparams, num_updates=num_updates, agent_id=agent_id)

    return Trainer(init, run)


def make_train(config: PPOConfig, env: Environment | None = None, env_params: EnvParams | None = None,
               progress: Progress = None, logger: LoggerArg = None) -> Callable[..., TrainOutput]:
    """train(key, hparams=config.hparams) -> TrainOutput, pure and jit/vmap-able.

    `progress` and `logger` as in `make_trainer`.

    Example (a tiny budget: 4 updates of 4 envs x 128 steps):
      >>> import jax, ppo_jax
      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=2048)
      >>> train = ppo_jax.make_train(config)
      >>> out = jax.jit(train)(jax.random.key(0), config.hparams)
      >>> out.metrics["episode_return"].shape   # [num_updates]
      (4,)
    """
    trainer = make_trainer(config, env, env_params, progress, logger)

    def train(key: jax.Array, hparams: HParams | None = None) -> TrainOutput:
        hparams = config.hparams if hparams is None else hparams
        state, metrics = trainer.run(trainer.init(key, hparams), hparams, config.num_updates)
        return TrainOutput(state=state, metrics=metrics)

    return train


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """Seed i of a population gets jax.random.split(jax.random.key(seed), num_seeds)[i]."""
    return jax.random.split(jax.random.key(seed), num_seeds)


def _population_train(config: PPOConfig, env, env_params, progress, sink=None) -> Callable:
    """jit(vmap(train)) over seeds (keys [P]), one HParams for all."""
    return jax.jit(jax.vmap(make_train(config, env, env_params, progress, sink), in_axes=(0, None)))


def train_seeds(
    config: PPOConfig,
    num_seeds: int,
    seed: int = 0,
    hparams: HParams | None = None,
    env: Environment | None = None,
    env_params: EnvParams | None = None,
    progress: Progress = None,
    logger: LoggerArg = None,
) -> TrainOutput:
    """Trains `num_seeds` agents vmapped in one compile; leaves get a leading [num_seeds] axis.

    `logger` (a `ppo_jax.loggers.Logger` or a list of them) gets one curve per
    seed, named `seed0`, `seed1`, ..., with the run's hyperparameters; loggers
    with `population="reduce"` get one curve of the mean, min and max over seeds.
    A call with a logger compiles once per logger (the callback is part of the program).

    Calling it again with the same static config (any hparams) does not recompile.
    Seed i gets the key `jax.random.split(jax.random.key(seed), num_seeds)[i]`.

    Example (a tiny budget: 3 seeds of 2 updates):
      >>> import ppo_jax
      >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=1024, hidden_sizes=(16,))
      >>> outs = ppo_jax.train_seeds(config, num_seeds=3, seed=0)
      >>> outs.metrics["episode_return"].shape, outs.final_return().shape   # [num_seeds, num_updates]
      ((3, 2), (3,))
      >>> outs.to_dataframe()[["seed", "update", "timesteps"]].head(2)       # update counts from 1
         seed  update  timesteps
      0     0       1      512.0
      1     0       2     1024.0
    """
    num_seeds = check_positive_int(num_seeds, "num_seeds", "train_seeds")
    seed = check_integer(seed, "seed", "train_seeds")
    hparams = config.hparams if hparams is None else hparams
    validate_hparams(hparams)
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)
    static_config = dataclasses.replace(config, hparams=HParams())
    keys = seed_keys(seed, num_seeds)
    run_config = dataclasses.replace(config, hparams=hparams)  # the hparams that really ran
    sink = bind_logger(logger, run_config, METRIC_NAMES, agents=seed_agents(run_config, num_seeds))
    program, _ = compile_population(
        _population_train, (static_config, env, env_params, progress, sink), (keys, hparams))
    out = program(keys, hparams)
    if sink is not None:
        jax.block_until_ready(out)
        sink.flush()
    return out
