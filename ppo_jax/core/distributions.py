"""The policy's action distributions in plain `jax.numpy`: log-probability, entropy, KL.

A policy's output is a dict of distribution parameters (`ActorCritic.policy`):
{"logits": [..., A]} for a Categorical over A actions, {"factor_logits":
[..., D, N]} for a multi-discrete action (D independent Categoricals, each
over N logits; a dimension with fewer choices has its extra logits at
`MASKED_LOGIT`), or {"mean": [..., A], "log_std": [..., A]} for a diagonal
Gaussian over A-vectors.

Action masks act on the logits: an illegal action's logit is replaced by
`MASKED_LOGIT` (`mask_logits`), so it has probability exactly 0 (exp
underflows), is never sampled, and adds exactly 0 to the entropy and KL
(0 * finite). Every function here is then that of the masked distribution. These functions
are what the rollout and the loss use: the same maths as distrax's
Categorical and MultivariateNormalDiag (`networks.make_distribution`, against
which tests/test_distributions.py checks them), with no distribution objects
in the hot path.
"""

from __future__ import annotations

import math

import distrax
import jax
import jax.numpy as jnp

from ppo_jax.networks.routing import MASKED_LOGIT, mask_logits  # noqa: F401  (re-exported)

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _logits(dist_params: dict) -> jax.Array | None:
    """The logits of a Categorical or multi-discrete policy ([..., A] or [..., D, N]), else None."""
    return dist_params.get("logits", dist_params.get("factor_logits"))


def _pick(log_p: jax.Array, action: jax.Array) -> jax.Array:
    """log_p[..., action] as a one-hot product: a gather, batched by vmap, is
    much slower than this on CPU."""
    return jnp.sum(jax.nn.one_hot(action, log_p.shape[-1], dtype=log_p.dtype) * log_p, axis=-1)


def log_prob(dist_params: dict, action: jax.Array) -> jax.Array:
    """log pi(action): action int [...] (Categorical), int [..., D] (multi-discrete: the
    dimensions' log-probabilities summed) or float [..., A] (Gaussian) -> [...]."""
    if "factor_logits" in dist_params:
        return jnp.sum(_pick(jax.nn.log_softmax(dist_params["factor_logits"], axis=-1), action), axis=-1)
    if "logits" in dist_params:
        return _pick(jax.nn.log_softmax(dist_params["logits"], axis=-1), action)
    mean, log_std = dist_params["mean"], dist_params["log_std"]
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - _HALF_LOG_2PI, axis=-1)


def entropy(dist_params: dict) -> jax.Array:
    """H[pi]: [...] (multi-discrete: the dimensions' entropies summed)."""
    logits = _logits(dist_params)
    if logits is not None:
        log_p = jax.nn.log_softmax(logits, axis=-1)
        per_factor = -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)
        return jnp.sum(per_factor, axis=-1) if "factor_logits" in dist_params else per_factor
    log_std = dist_params["log_std"]
    return jnp.sum(log_std + 0.5 + _HALF_LOG_2PI, axis=-1)


def kl_divergence(p_params: dict, q_params: dict) -> jax.Array:
    """KL[p || q] between two distributions of the same kind: [...] (multi-discrete: summed
    over the dimensions, which are independent)."""
    p_logits = _logits(p_params)
    if p_logits is not None:
        log_p = jax.nn.log_softmax(p_logits, axis=-1)
        log_q = jax.nn.log_softmax(_logits(q_params), axis=-1)
        per_factor = jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
        return jnp.sum(per_factor, axis=-1) if "factor_logits" in p_params else per_factor
    p_mean, p_log_std = p_params["mean"], p_params["log_std"]
    q_mean, q_log_std = q_params["mean"], q_params["log_std"]
    var_ratio = jnp.exp(2.0 * (p_log_std - q_log_std))
    mean_term = ((p_mean - q_mean) * jnp.exp(-q_log_std)) ** 2
    return 0.5 * jnp.sum(var_ratio + mean_term - 1.0 - jnp.log(var_ratio), axis=-1)


def log_prob_entropy_kl(new_params: dict, old_params: dict, action: jax.Array):
    """(log pi_new(action), H[pi_new], KL[pi_old || pi_new]): what the loss needs.

    Written as three calls: inside one jitted program XLA's common-subexpression
    pass computes each policy's log-softmax once.
    """
    return log_prob(new_params, action), entropy(new_params), kl_divergence(old_params, new_params)


def make_distribution(dist_params: dict) -> distrax.Distribution:
    """dist_params from `ActorCritic.policy` -> distrax distribution over actions (a
    multi-discrete action: D independent Categoricals, `distrax.Independent` over them)."""
    if "factor_logits" in dist_params:
        return distrax.Independent(distrax.Categorical(logits=dist_params["factor_logits"]), 1)
    if "logits" in dist_params:
        return distrax.Categorical(logits=dist_params["logits"])
    return distrax.MultivariateNormalDiag(dist_params["mean"], jnp.exp(dist_params["log_std"]))


def draw_policy_noise(key: jax.Array, shape: tuple, discrete: bool) -> jax.Array:
    """Noise for `sample_from_noise`, float32 `shape` (= [..., *EnvSpec.policy_shape]):
    standard Gumbel for Categorical (and multi-discrete) policies, standard normal for
    Gaussian ones."""
    if discrete:
        return jax.random.gumbel(key, shape, jnp.float32)
    return jax.random.normal(key, shape, jnp.float32)


def sample_from_noise(dist_params: dict, noise: jax.Array) -> jax.Array:
    """An action distributed as `make_distribution(dist_params).sample()`, from
    pre-drawn `draw_policy_noise` noise: argmax(logits + Gumbel) (the Gumbel-max
    trick, as `jax.random.categorical`), or mean + std * normal.

    Drawing a whole rollout's noise in one call keeps random-number kernels
    out of the per-step scan body.
    """
    logits = _logits(dist_params)
    if logits is not None:
        return jnp.argmax(logits + noise, axis=-1)
    return dist_params["mean"] + jnp.exp(dist_params["log_std"]) * noise


def greedy_action(dist_params: dict) -> jax.Array:
    """The deterministic policy's action: argmax of the logits (each dimension's, for a
    multi-discrete action), or the Gaussian mean."""
    logits = _logits(dist_params)
    if logits is not None:
        return jnp.argmax(logits, axis=-1)
    return dist_params["mean"]
