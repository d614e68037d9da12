"""Networks: the LAPACK-free orthogonal initializer against a QR reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax.networks import _orthonormal_columns, orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (400, 64), (64, 2), (64, 1)],
                         ids=["wide", "square", "tall-minatar", "policy-head", "value-head"])
def test_orthogonal_matches_sign_fixed_qr(shape):
    """Same matrix as numpy's QR with diag(R) made positive (flax's convention)."""
    key = jax.random.key(3)
    n_rows, n_cols = shape
    tall = (max(shape), min(shape))
    a = np.asarray(jax.random.normal(key, tall, jnp.float32), np.float64)
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    expected = 1.7 * (q.T if n_rows < n_cols else q)
    got = np.asarray(orthogonal(1.7)(key, shape))
    np.testing.assert_allclose(got, expected, atol=2e-5)
    gram = got.T @ got if n_rows >= n_cols else got @ got.T
    np.testing.assert_allclose(gram, 1.7**2 * np.eye(min(shape)), atol=1e-4)


def test_orthonormal_columns_vmaps_over_a_large_population():
    """256 batched inits: the case where batched LAPACK QR hung on 2 CPU cores."""
    keys = jax.random.split(jax.random.key(0), 256)
    qs = jax.jit(jax.vmap(lambda k: _orthonormal_columns(jax.random.normal(k, (64, 64)))))(keys)
    eye = jnp.einsum("bij,bik->bjk", qs, qs)
    np.testing.assert_allclose(np.asarray(eye), np.broadcast_to(np.eye(64), eye.shape), atol=1e-4)


def test_population_init_of_128_agents_finishes():
    config = ppo_jax.PPOConfig(num_envs=2, num_steps=8, num_minibatches=2, total_timesteps=16)
    trainer = ppo_jax.make_trainer(config)
    states = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))(
        jax.random.split(jax.random.key(0), 128), config.hparams
    )
    assert states.update_step.shape == (128,)
