"""Every supported gymnax env trains for two tiny updates with finite metrics.

Compile time dominates (a run is 32 env steps), so the runs use the
`fast_jit` fixture (XLA's cheaper CPU code generation).
"""

from __future__ import annotations

import chex
import gymnax
import jax
import numpy as np
import pytest
from gymnax.environments import spaces

import ppo_jax
from ppo_jax.core.iteration import METRIC_NAMES

ENVS = ppo_jax.available_envs()
# MinAtar programs take 2-3x longer to compile than the others: marked so that
# `-m "not minatar"` gives a quick local run.
ENV_CASES = [
    pytest.param(env_id, id=env_id, marks=pytest.mark.minatar if "MinAtar" in env_id else ())
    for env_id in ENVS
]
NUM_UPDATES = 2

# metrics that exist whether or not an episode ended during the update
# episode_* are NaN for updates in which no episode ended; kl_after_update is
# computed for the adaptive-KL objective only (NaN otherwise); eval_* are NaN
# without evaluation during training (eval_every = 0, as here).
ALWAYS_FINITE = tuple(n for n in METRIC_NAMES
                      if n not in ("episode_return", "episode_length", "kl_after_update",
                                   "eval_return", "eval_length"))


def test_available_envs_are_the_gymnax_registry_less_mnist_bandit():
    # MNISTBandit-bsuite downloads MNIST when built: it is excluded on purpose.
    assert "MNISTBandit-bsuite" in gymnax.registered_envs
    assert "MNISTBandit-bsuite" not in ENVS
    # ... and ppo_jax's own masked variants (MaskedCartPole-v1) are added.
    masked = set(ppo_jax.envs.MASKED_ENVS)
    assert sorted(ENVS) == sorted(set(gymnax.registered_envs) - {"MNISTBandit-bsuite"} | masked)
    with pytest.raises(ValueError, match="MNISTBandit-bsuite"):
        ppo_jax.PPOConfig(env="MNISTBandit-bsuite")


@pytest.mark.parametrize("env_id", ENVS, ids=ENVS)
def test_env_spaces_are_supported(env_id):
    adapter = ppo_jax.envs.make_env(env_id)
    env, params = adapter.env, adapter.env_params
    for space in (env.observation_space(params), env.action_space(params)):
        assert isinstance(space, (spaces.Discrete, spaces.Box))


@pytest.mark.parametrize("env_id", ENV_CASES)
def test_env_trains_two_updates(env_id, make_tiny_config, fast_jit):
    config = make_tiny_config(env_id, num_updates=NUM_UPDATES)
    out = fast_jit(ppo_jax.make_train(config))(jax.random.key(0))
    metrics = {k: np.asarray(v) for k, v in out.metrics.items()}

    assert set(METRIC_NAMES) <= set(metrics)
    for name in METRIC_NAMES:
        assert metrics[name].shape == (NUM_UPDATES,), name
    for name in ALWAYS_FINITE:
        assert np.all(np.isfinite(metrics[name])), (name, metrics[name])
    np.testing.assert_array_equal(metrics["diverged"], 0.0)  # the default settings never diverge here
    steps = config.batch_size * np.arange(1, NUM_UPDATES + 1)
    np.testing.assert_array_equal(metrics["timesteps"], steps)

    for name in ("eval_return", "eval_length"):
        assert np.all(np.isnan(metrics[name])), name
    # episode means are finite exactly when an episode ended in that update
    ended = metrics["num_episodes"] > 0
    for name in ("episode_return", "episode_length"):
        np.testing.assert_array_equal(np.isfinite(metrics[name]), ended, err_msg=name)
    assert np.all(metrics["episode_length"][ended] >= 1)

    chex.assert_tree_all_finite(out.state.params)
    chex.assert_tree_all_finite(out.state.obs)
    assert int(out.state.update_step) == NUM_UPDATES

