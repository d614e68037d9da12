"""The optimizer step against a numpy reference: global-norm clipping, Adam (eps 1e-5),
the traced learning rate, and the annealing schedule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import ppo_jax
from ppo_jax.config.hparams import HParams
from ppo_jax.core.iteration import learning_rate_at
from ppo_jax.core.loss import LossOptions, ppo_loss
from ppo_jax.core.types import Batch
from ppo_jax.core.update import (
    MinibatchCarry,
    UpdateSettings,
    init_optimizer_state,
    make_optimizer,
    minibatch_step,
)
from ppo_jax.networks.feedforward import ActorCritic
from ppo_jax.networks.init import init_params

B1, B2, EPS = 0.9, 0.999, 1e-5


class NumpyAdam:
    """Global-norm clipping, then Adam with bias correction; float64."""

    def __init__(self, size: int, max_grad_norm: float, eps: float = EPS):
        self.m, self.v, self.t = np.zeros(size), np.zeros(size), 0
        self.max_grad_norm, self.eps = max_grad_norm, eps

    def direction(self, grad: np.ndarray) -> np.ndarray:
        grad = np.asarray(grad, np.float64)
        norm = np.sqrt(np.sum(grad**2))
        if norm > self.max_grad_norm:
            grad = grad * self.max_grad_norm / norm
        self.t += 1
        self.m = B1 * self.m + (1 - B1) * grad
        self.v = B2 * self.v + (1 - B2) * grad**2
        m_hat, v_hat = self.m / (1 - B1**self.t), self.v / (1 - B2**self.t)
        return m_hat / (np.sqrt(v_hat) + self.eps)


@pytest.mark.parametrize("max_grad_norm", [1e-3, 0.05, 1e3], ids=["hard-clip", "clip", "no-clip"])
def test_optimizer_clips_by_global_norm_then_adam(max_grad_norm):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=50).astype(np.float32) * s for s in (0.1, 1.0, 0.01)]
    opt = make_optimizer(max_grad_norm)
    state = opt.init(jnp.zeros(50))
    ref = NumpyAdam(50, max_grad_norm)
    for grad in grads:
        update, state = opt.update(jnp.asarray(grad), state)
        np.testing.assert_allclose(np.asarray(update), ref.direction(grad), rtol=2e-4, atol=1e-6)


def test_adam_epsilon_is_1e_minus_5():
    """With gradients of 1e-6 the first step is g / (|g| + eps): 1/11 for eps 1e-5."""
    opt = make_optimizer(1.0)
    update, _ = opt.update(jnp.full(3, 1e-6), opt.init(jnp.zeros(3)))
    np.testing.assert_allclose(np.asarray(update), 1e-6 / (1e-6 + 1e-5), rtol=1e-3)
    assert not np.allclose(np.asarray(update), 1e-6 / (1e-6 + 1e-8), rtol=1e-2)


def _minibatch(key, num=32, obs_dim=3, num_actions=2) -> Batch:
    k = jax.random.split(key, 5)
    return Batch(
        obs=jax.random.normal(k[0], (num, obs_dim)),
        action=jax.random.randint(k[1], (num,), 0, num_actions),
        log_prob=jnp.full((num,), -np.log(num_actions), jnp.float32),
        value=jax.random.normal(k[2], (num,)),
        advantage=jax.random.normal(k[3], (num,)),
        target=jax.random.normal(k[4], (num,)),
        dist_params={"logits": jnp.zeros((num, num_actions))},
    )


@pytest.mark.parametrize("max_grad_norm", [0.01, 100.0], ids=["clipped", "unclipped"])
def test_minibatch_steps_equal_the_numpy_reference(max_grad_norm):
    """Three minibatch steps: params -= lr * adam(clip(grad of ppo_loss)), lr traced."""
    network = ActorCritic(policy_dim=2, discrete=True, hidden_sizes=(8,))
    params = init_params(network, jax.random.key(0), 3)
    hp = HParams(max_grad_norm=max_grad_norm)
    lr = jnp.asarray(3e-3, jnp.float32)
    options = LossOptions()
    carry = MinibatchCarry(params, init_optimizer_state(params, max_grad_norm), jnp.asarray(False))
    on_obs = lambda p, minibatch: network.apply(p, minibatch.obs)  # ppo_loss's apply_fn
    step = jax.jit(lambda c, b: minibatch_step(c, b, apply_fn=on_obs,
                                               settings=UpdateSettings(hp, lr, jnp.asarray(1.0)),
                                               options=options, early_stop=False))
    flat, _ = ravel_pytree(params)
    expected = np.asarray(flat, np.float64)
    ref = NumpyAdam(flat.size, max_grad_norm)
    grad_of = jax.jit(jax.grad(lambda p, b: ppo_loss(p, on_obs, b, hp, 1.0, options)[0]))
    for i in range(3):
        batch = _minibatch(jax.random.key(i + 1))
        grad = np.asarray(ravel_pytree(grad_of(carry.params, batch))[0], np.float64)
        carry, metrics = step(carry, batch)
        assert float(metrics["grad_norm"]) == pytest.approx(np.sqrt(np.sum(grad**2)), rel=1e-4)
        expected = expected - 3e-3 * ref.direction(grad)
        np.testing.assert_allclose(np.asarray(ravel_pytree(carry.params)[0]), expected,
                                   rtol=1e-4, atol=1e-6, err_msg=f"step {i}")
    if max_grad_norm < 1.0:
        assert np.sqrt(np.sum(grad**2)) > max_grad_norm  # the clipping was really exercised


def test_learning_rate_schedule_values():
    config = ppo_jax.PPOConfig(total_timesteps=512 * 10)  # 10 updates
    hp = HParams(learning_rate=1e-3)
    for update, expected in [(0, 1e-3), (1, 9e-4), (5, 5e-4), (9, 1e-4), (10, 0.0), (12, 0.0)]:
        got = float(learning_rate_at(config, hp, jnp.asarray(update)))
        assert got == pytest.approx(expected, abs=1e-9), update
    constant = config.replace(anneal_lr=False)
    assert float(learning_rate_at(constant, hp, jnp.asarray(7))) == pytest.approx(1e-3)


def test_training_applies_the_annealed_learning_rate(make_tiny_config, fast_jit):
    """The reported rate is lr * (1 - u / num_updates), and the params moved by that rate:
    doubling the learning rate at update 0 doubles Adam's first step exactly."""
    config = make_tiny_config(num_updates=4, num_minibatches=1)
    out = fast_jit(ppo_jax.make_train(config))(jax.random.key(0), HParams(learning_rate=2e-3))
    np.testing.assert_allclose(out.metrics["learning_rate"], 2e-3 * (1 - np.arange(4) / 4), rtol=1e-6)

    trainer = ppo_jax.make_trainer(config)
    run = fast_jit(trainer.run, static_argnames="num_updates")
    state = trainer.init(jax.random.key(1))
    moved = {}
    for lr in (1e-3, 2e-3):
        new_state, _ = run(state, HParams(learning_rate=lr), num_updates=1)
        moved[lr] = ravel_pytree(new_state.params)[0] - ravel_pytree(state.params)[0]
    np.testing.assert_allclose(np.asarray(moved[2e-3]), 2 * np.asarray(moved[1e-3]), rtol=1e-4, atol=2e-7)
