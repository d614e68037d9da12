"""PPO loss: surrogate objectives, value loss, entropy bonus.

Surrogates (Schulman et al., 2017, section 3-4), per sample, to be maximized:
  "clip":        min(r A, clip(r, 1 - eps, 1 + eps) A)
  "none":        r A                                   (L^CPI)
  "kl_penalty":  r A - beta KL[pi_old, pi]             (L^KLPEN, beta fixed)
  "adaptive_kl": r A - beta KL[pi_old, pi]             (beta adapted per update)
Dual clip (Ye et al., 2020), any objective: for A < 0, max(surrogate, c A).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ppo_jax.core.distributions import log_prob_entropy_kl
from ppo_jax.core.types import Batch


@dataclasses.dataclass(frozen=True)
class LossOptions:
    """The static parts of the loss (from PPOConfig)."""

    objective: str = "clip"
    dual_clip: bool = False
    clip_value_loss: bool = True

    @classmethod
    def from_config(cls, config) -> LossOptions:
        """The `objective`, `dual_clip` and `clip_value_loss` of a `PPOConfig`."""
        return cls(config.objective, config.dual_clip, config.clip_value_loss)


def normalize_advantages(advantage: jax.Array) -> jax.Array:
    """Zero mean, unit std over the minibatch (every axis)."""
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)


def clipped_surrogate(ratio: jax.Array, advantage: jax.Array, clip_eps) -> jax.Array:
    """min(r A, clip(r, 1-eps, 1+eps) A), elementwise."""
    return jnp.minimum(ratio * advantage, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage)


def apply_dual_clip(surrogate: jax.Array, advantage: jax.Array, dual_clip_coef) -> jax.Array:
    """For A < 0 the surrogate is bounded below by c A (c > 1)."""
    return jnp.where(advantage < 0, jnp.maximum(surrogate, dual_clip_coef * advantage), surrogate)


def surrogate_objective(ratio, advantage, kl, hparams, kl_coef, options: LossOptions) -> jax.Array:
    """Per-sample surrogate to maximize; see the module docstring. Shapes [N]."""
    if options.objective == "clip":
        surrogate = clipped_surrogate(ratio, advantage, hparams.clip_eps)
    elif options.objective == "none":
        surrogate = ratio * advantage
    else:  # "kl_penalty", "adaptive_kl"
        surrogate = ratio * advantage - kl_coef * kl
    if options.dual_clip:
        surrogate = apply_dual_clip(surrogate, advantage, hparams.dual_clip_coef)
    return surrogate


def value_loss(value, old_value, target, clip_eps, clip: bool) -> jax.Array:
    """0.5 * squared error, PPO2-style clipped around the old value if `clip`."""
    unclipped = (value - target) ** 2
    if not clip:
        return 0.5 * unclipped.mean()
    value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    return 0.5 * jnp.maximum(unclipped, (value_clipped - target) ** 2).mean()


def ppo_loss(
    params,
    apply_fn: Callable,
    batch: Batch,
    hparams,
    kl_coef: jax.Array,
    options: LossOptions,
) -> tuple[jax.Array, dict]:
    """Total loss = -surrogate + vf_coef * value_loss - ent_coef * entropy.

    Args:
      params: network params; apply_fn(params, batch) -> (dist_params, value), shaped
        like batch.advantage (`train.batch_apply_fn`).
      batch: a minibatch, leaves [N, ...] (recurrent networks: sequences [S, L, ...]).
      hparams: HParams; kl_coef: current beta [].
      options: static loss options.

    Returns:
      (loss [], metrics): metrics has policy_loss, value_loss, entropy,
      approx_kl (the (r - 1) - log r estimator), kl (exact KL[old, new]) and
      clip_fraction, all scalars.
    """
    dist_params, value = apply_fn(params, batch)
    log_prob, entropy_per_sample, kl = log_prob_entropy_kl(dist_params, batch.dist_params, batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    advantage = normalize_advantages(batch.advantage)

    surrogate = surrogate_objective(ratio, advantage, kl, hparams, kl_coef, options)
    policy_loss = -surrogate.mean()
    v_loss = value_loss(value, batch.value, batch.target, hparams.clip_eps, options.clip_value_loss)
    entropy = entropy_per_sample.mean()
    loss = policy_loss + hparams.vf_coef * v_loss - hparams.ent_coef * entropy
    metrics = {
        "policy_loss": policy_loss,
        "value_loss": v_loss,
        "entropy": entropy,
        "approx_kl": jax.lax.stop_gradient(((ratio - 1.0) - log_ratio).mean()),
        "kl": jax.lax.stop_gradient(kl.mean()),
        "clip_fraction": jax.lax.stop_gradient(
            (jnp.abs(ratio - 1.0) > hparams.clip_eps).astype(jnp.float32).mean()
        ),
    }
    return loss, metrics
