"""Generalized Advantage Estimation (Schulman et al., 2016) as a reverse scan."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class _GAEStep:
    reward: jax.Array
    value: jax.Array
    next_value: jax.Array
    terminated: jax.Array
    done: jax.Array


def _gae_step(next_advantage, step: _GAEStep, gamma, gae_lambda):
    """One reverse step. Only termination cuts the bootstrap; any episode end
    (termination or truncation) cuts the advantage trace."""
    not_terminated = 1.0 - step.terminated.astype(jnp.float32)
    not_done = 1.0 - step.done.astype(jnp.float32)
    delta = step.reward + gamma * not_terminated * step.next_value - step.value
    advantage = delta + gamma * gae_lambda * not_done * next_advantage
    return advantage, advantage


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: jax.Array,
    gae_lambda: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets.

        delta_t = r_t + gamma * (1 - term_t) * V(s'_t) - V(s_t)
        A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
        target_t = A_t + V(s_t)

    where s'_t is the state step t reached (on truncation: the final
    observation, not the reset one), so a truncated step bootstraps from it.

    Args:
      rewards: float32 [T, B].
      values: float32 [T, B]: V(s_t).
      next_values: float32 [T, B]: next_values[t] = V(s'_t).
      terminated: bool [T, B]: s'_t is terminal (no bootstrap).
      done: bool [T, B]: terminated | truncated (the trace is cut).
      gamma: discount, a scalar (may be traced).
      gae_lambda: GAE's lambda, a scalar (may be traced).

    Returns:
      (advantages, targets), each float32 [T, B].
    """
    chex.assert_equal_shape([rewards, values, next_values, terminated, done])
    chex.assert_rank(rewards, 2)
    steps = _GAEStep(rewards, values, next_values, terminated, done)
    _, advantages = jax.lax.scan(
        lambda carry, step: _gae_step(carry, step, gamma, gae_lambda),
        jnp.zeros_like(rewards[0]),
        steps,
        reverse=True,
    )
    return advantages, advantages + values
