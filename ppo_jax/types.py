"""Pytrees passed between modules. Shape convention: time-major [T, B, ...].

T = num_steps, B = num_envs, D = flattened observation size, A = action size.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import numpy as np
import pandas as pd  # noqa: F401  (to_dataframe's return type)
from flax import struct

from ppo_jax.envs import LogState
from ppo_jax.normalize import RewardScaler, RunningMeanStd
from ppo_jax.results import metric_order, tidy_metrics
from ppo_jax.statistics import FINAL_RETURN_DEFINITION, final_return


@struct.dataclass
class Transition:
    """One rollout, time-major. Observations are stored normalized (as acted on).

    obs: float32 [T, B, D]; next_obs: float32 [T, B, D], the observation each
      step reached before any auto-reset (gymnax `final_observation`); only
      truncated steps need it (`rollout.bootstrap_values`).
    action: int32 [T, B] (Discrete) or float32 [T, B, A] (Box, unclipped).
    log_prob, value, reward: float32 [T, B] (reward scaled if normalize_rewards).
    terminated, done: bool [T, B]; done = terminated | truncated.
    dist_params: the acting policy's distribution parameters, leaves [T, B, ...].
    episode_start, hidden: recurrent networks only (else None): bool [T, B],
      whether obs[t] began an episode (the carry was reset before it), and the
      network's carry entering step t before that reset, leaves [T, B, ...].
    """

    obs: jax.Array
    next_obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    dist_params: Any
    episode_start: jax.Array | None = None
    hidden: Any = None


@struct.dataclass
class Batch:
    """Training batch. Feed-forward networks: flattened, leaves [N, ...] (N = T * B,
    or a minibatch). Recurrent networks: sequences, leaves [S, L, ...] (S
    sequences of L = `PPOConfig.bptt_length` steps), with `episode_start` bool
    [S, L] and `hidden`, each sequence's carry entering its first step, leaves [S, ...].
    """

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array
    dist_params: Any
    episode_start: jax.Array | None = None
    hidden: Any = None


@struct.dataclass
class RecurrentState:
    """A recurrent agent's memory between steps, one row per env.

    hidden: the network's carry after the last step (leaves [B, ...]), not yet
      reset; episode_start: bool [B], the next observation begins an episode,
      so the network resets the carry before it (True after `reset`).
    """

    hidden: Any
    episode_start: jax.Array


@struct.dataclass
class BestAgent:
    """The best-evaluated policy so far (evaluation during training, `eval_every` > 0).

    params, obs_stats: that policy's network params and frozen observation
      statistics. eval_return: float32 [] its mean evaluation return (-inf
      before the first evaluation). update_step: int32 [] the update after
      which it was evaluated (0 before the first evaluation).
    """

    params: Any
    obs_stats: RunningMeanStd
    eval_return: jax.Array
    update_step: jax.Array


@struct.dataclass
class TrainState:
    """Everything needed to continue training or to deploy one agent.

    params: flax params of `ActorCritic`; opt_state: optax state (clip + Adam).
    obs_stats: observation normalizer [D]; reward_scaler: [B] accumulators.
    env_state: LogState, leaves [B, ...]; obs: float32 [B, D] raw observation.
    key: PRNG key; update_step: int32 [] updates done so far.
    kl_coef: float32 [] current KL-penalty beta (adaptive objective).
    env_name, custom_env: static (not arrays): the env the state was made for
      or last trained on: its gymnax id, or the class name of a user-supplied
      env instance (`custom_env` True); env_name None when unknown (a state
      built by hand). `make_policy`, `evaluate` and `save` check them.
    best: `BestAgent` when the config evaluates during training (`eval_every`
      > 0), else None; `ppo_jax.absolute_metric` re-evaluates it.
    memory: `RecurrentState` of the envs for recurrent networks, else None.
    """

    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    reward_scaler: RewardScaler
    env_state: LogState
    obs: jax.Array
    key: jax.Array
    update_step: jax.Array
    kl_coef: jax.Array
    best: BestAgent | None = None
    memory: RecurrentState | None = None
    env_name: str | None = struct.field(pytree_node=False, default=None)
    custom_env: bool = struct.field(pytree_node=False, default=False)


@struct.dataclass
class TrainOutput:
    """Result of `train`: final state and per-update metrics (dict of [num_updates]).

    Under `jax.vmap` (e.g. `train_seeds`) every leaf gains leading batch axes:
    metrics [num_seeds, num_updates]. A pytree (two fields); the methods below
    read it on the host and are not meant for use inside `jit`.
    """

    state: TrainState
    metrics: dict

    def final_return(self) -> np.ndarray:
        """float [batch shape]: each agent's final return (`ppo_jax.statistics.final_return`:
        the mean episode_return over the last 10% of updates; -inf for an agent that diverged)."""
        return final_return(self.metrics["episode_return"], diverged=self.metrics.get("diverged"))

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy pandas frame: one row per (seed, update), `update` counted from 1.

        Columns: `seed` (for a [num_seeds] population; absent for one agent),
        `update`, then one per metric: the frame the CLI writes as metrics.csv.
        """
        return tidy_metrics(self.metrics)

    def __repr__(self) -> str:
        """A few lines (not every array): population shape, updates, metric names, final return."""
        return describe_train_output(self)


def describe_divergence(diverged: np.ndarray) -> str:
    """'2 of 8 agents (seeds [3, 5]) diverged (non-finite params or losses), first at update 17'."""
    per_run = np.atleast_2d(diverged.reshape((-1, diverged.shape[-1])) > 0)
    bad = np.flatnonzero(per_run.any(axis=-1))
    first = int(np.argmax(per_run[bad].any(axis=0))) + 1
    which = f" (agents {bad.tolist()})" if per_run.shape[0] > 1 else ""
    return (f"{bad.size} of {per_run.shape[0]} agent(s){which} diverged (non-finite params or "
            f"losses), first at update {first}")


def describe_train_output(out: TrainOutput) -> str:
    """`TrainOutput.__repr__`: shapes always; the final return when the values are concrete."""
    metrics = out.metrics if isinstance(out.metrics, dict) else {}
    returns = metrics.get("episode_return")
    if returns is None or not hasattr(returns, "shape") or len(returns.shape) == 0:
        return f"TrainOutput(state={type(out.state).__name__}, metrics: {', '.join(map(str, metrics))})"
    *batch, num_updates = returns.shape
    agents = {0: "one agent", 1: f"{math.prod(batch)} agents"}.get(
        len(batch), f"{math.prod(batch)} agents (batch shape {tuple(batch)})")
    lines = [f"TrainOutput({agents} x {num_updates} updates",
             f"  metrics: [{', '.join(map(str, returns.shape))}] each: {', '.join(metric_order(metrics))}"]
    if not isinstance(returns, jax.core.Tracer):  # values exist only outside a trace
        diverged = metrics.get("diverged")
        final = np.atleast_1d(final_return(returns, diverged=diverged))
        steps = np.max(np.asarray(metrics["timesteps"])) if "timesteps" in metrics else None
        if steps is not None:
            lines.append(f"  env steps per agent: {int(steps):,}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # every agent NaN
            summary = (f"{np.nanmean(final):.4g}" if final.size == 1 else
                       f"mean {np.nanmean(final):.4g}, min {np.nanmin(final):.4g}, "
                       f"max {np.nanmax(final):.4g} over agents")
        lines.append(f"  final return: {summary} ({FINAL_RETURN_DEFINITION})")
        if diverged is not None and np.any(np.asarray(diverged) > 0):
            lines.append(f"  DIVERGED: {describe_divergence(np.asarray(diverged))}")
    lines.append(f"  state: {type(out.state).__name__} (params, optimizer, normalizers, env states, key))")
    return "\n".join(lines)
