"""Pytrees passed between modules. Shape convention: time-major [T, B, ...].

T = num_steps, B = num_envs, D = flattened observation size, A = action size.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from ppo_jax.core.normalize import RewardScaler, RunningMeanStd
from ppo_jax.envs.spec import LogState


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


