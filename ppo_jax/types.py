"""Pytrees passed between modules. Shape convention: time-major [T, B, ...].

T = num_steps, B = num_envs, D = flattened observation size, A = action size.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from ppo_jax.envs import LogState
from ppo_jax.normalize import RewardScaler, RunningMeanStd


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


@struct.dataclass
class Batch:
    """Flattened training batch, leaves [N, ...] (N = T * B, or a minibatch)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array
    dist_params: Any


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
    env_name: str | None = struct.field(pytree_node=False, default=None)
    custom_env: bool = struct.field(pytree_node=False, default=False)


@struct.dataclass
class TrainOutput:
    """Result of `train`: final state and per-update metrics (dict of [num_updates])."""

    state: TrainState
    metrics: dict
