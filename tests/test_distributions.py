"""ppo_jax.core.distributions (plain jnp) against distrax's Categorical and MultivariateNormalDiag."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core import distributions
from ppo_jax.core.distributions import make_distribution


def _params(kind: str, key, shape=(5, 3)):
    k1, k2, k3 = jax.random.split(key, 3)
    if kind == "categorical":
        return {"logits": 3.0 * jax.random.normal(k1, shape)}
    return {"mean": jax.random.normal(k1, shape), "log_std": jax.random.normal(k2, shape) - 0.5}


def _actions(kind: str, key, params):
    dist = make_distribution(params)
    return dist.sample(seed=key)


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_log_prob_entropy_kl_match_distrax(kind):
    p, q = _params(kind, jax.random.key(0)), _params(kind, jax.random.key(1))
    action = _actions(kind, jax.random.key(2), p)
    ref_p, ref_q = make_distribution(p), make_distribution(q)
    np.testing.assert_allclose(distributions.log_prob(p, action), ref_p.log_prob(action), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(distributions.entropy(p), ref_p.entropy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(distributions.kl_divergence(p, q), ref_p.kl_divergence(ref_q), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(distributions.kl_divergence(p, p), 0.0, atol=1e-5)
    fused = distributions.log_prob_entropy_kl(q, p, action)  # (log q(a), H[q], KL[p || q])
    np.testing.assert_allclose(fused[0], ref_q.log_prob(action), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused[1], ref_q.entropy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused[2], ref_p.kl_divergence(ref_q), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_gradients_match_distrax(kind):
    """The loss differentiates these: gradients w.r.t. the new policy's parameters agree."""
    p, q = _params(kind, jax.random.key(3)), _params(kind, jax.random.key(4))
    action = _actions(kind, jax.random.key(5), p)

    def ours(q):
        lp, ent, kl = distributions.log_prob_entropy_kl(q, p, action)
        return jnp.sum(lp) + 0.3 * jnp.sum(ent) - 0.7 * jnp.sum(kl)

    def reference(q):
        dq = make_distribution(q)
        return (jnp.sum(dq.log_prob(action)) + 0.3 * jnp.sum(dq.entropy())
                - 0.7 * jnp.sum(make_distribution(p).kl_divergence(dq)))

    got, expected = jax.grad(ours)(q), jax.grad(reference)(q)
    for name in got:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_categorical_extremes_stay_finite():
    """A near-deterministic policy: log-probabilities of unlikely actions and the KL stay finite."""
    p = {"logits": jnp.array([[60.0, -60.0, 0.0]])}
    q = {"logits": jnp.array([[-60.0, 60.0, 0.0]])}
    assert np.isfinite(distributions.log_prob(p, jnp.array([1]))).all()
    assert np.isfinite(distributions.kl_divergence(p, q)).all()
    assert float(distributions.entropy(p)[0]) == pytest.approx(0.0, abs=1e-6)
