"""make_policy, make_value_fn and evaluate: shapes, jit, closed-form probe returns,
a briefly trained CartPole agent, and the single-agent check."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast, tiny_config
from test_probes import ConstantRewardEnv, ObservationRewardEnv, OneStepChoiceEnv

import ppo_jax
from ppo_jax.envs import make_env
from ppo_jax.networks import make_network
from ppo_jax.normalize import normalize

DETERMINISTIC = {"deterministic": True, "stochastic": False}
NUM_EPISODES = 64

# evaluate, jitted: compiled once per (config, env, num_episodes, deterministic)
EVALUATE = jit_fast(ppo_jax.evaluate, static_argnums=0,
                    static_argnames=("num_episodes", "deterministic", "env"))

CHOICE = OneStepChoiceEnv()
CONFIG = tiny_config()  # config.env is overridden by the probe env


@functools.lru_cache(maxsize=None)
def fresh_agent(env):
    """An untrained agent (trainer.init) for a probe env: near-uniform policy."""
    return ppo_jax.make_trainer(CONFIG, env=env).init(jax.random.key(0))


def _action_one_probability(state, env) -> float:
    network = make_network(CONFIG, make_env(CONFIG.env, env).spec)
    dist_params = network.apply(state.params, jnp.ones((1, 1)), method="policy")
    return float(jax.nn.softmax(dist_params["logits"][0])[1])


@pytest.mark.parametrize("mode", list(DETERMINISTIC), ids=list(DETERMINISTIC))
def test_evaluate_is_jittable(mode):
    state, deterministic, key = fresh_agent(CHOICE), DETERMINISTIC[mode], jax.random.key(2)
    got = EVALUATE(CONFIG, state, key, num_episodes=NUM_EPISODES, deterministic=deterministic,
                   env=CHOICE)
    want = ppo_jax.evaluate(CONFIG, state, key, num_episodes=NUM_EPISODES,
                            deterministic=deterministic, env=CHOICE)
    assert got.shape == want.shape == (NUM_EPISODES,)
    assert got.dtype == want.dtype == jnp.float32
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(np.asarray(got))) <= {0.0, 1.0}


def test_deterministic_evaluation_takes_the_greedy_action():
    state = fresh_agent(CHOICE)
    greedy = int(ppo_jax.make_policy(CONFIG, state, deterministic=True, env=CHOICE)(
        jax.random.key(0), jnp.ones((1,))))
    returns = EVALUATE(CONFIG, state, jax.random.key(3), num_episodes=NUM_EPISODES,
                       deterministic=True, env=CHOICE)
    np.testing.assert_array_equal(returns, np.full(NUM_EPISODES, float(greedy == 1)))


def test_stochastic_evaluation_samples_the_policy():
    state = fresh_agent(CHOICE)
    p_one = _action_one_probability(state, CHOICE)
    assert 0.3 < p_one < 0.7  # untrained: close to uniform
    n = 4000
    returns = EVALUATE(CONFIG, state, jax.random.key(4), num_episodes=n, deterministic=False,
                       env=CHOICE)
    # mean return = P(action 1); binomial std = sqrt(p (1 - p) / n) < 0.008
    assert float(returns.mean()) == pytest.approx(p_one, abs=0.04)


def test_episodes_end_at_truncation():
    env = ConstantRewardEnv(max_steps_in_episode=7)
    returns = EVALUATE(CONFIG, fresh_agent(env), jax.random.key(5), num_episodes=5,
                       deterministic=False, env=env)
    np.testing.assert_array_equal(returns, np.full(5, 7.0))


def test_observation_dependent_returns():
    env = ObservationRewardEnv()
    returns = np.asarray(EVALUATE(CONFIG, fresh_agent(env), jax.random.key(6), num_episodes=400,
                                  deterministic=True, env=env))
    assert set(np.unique(returns)) == {-1.0, 1.0}
    assert abs(returns.mean()) < 0.2  # obs is +-1 with probability 1/2


# ---------------------------------------------------------------------------
# a briefly trained CartPole agent
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cartpole_agent():
    """6 updates of 4 x 128 steps with observation normalization."""
    config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=6 * 512, num_envs=4,
                               num_steps=128, normalize_observations=True,
                               hparams=ppo_jax.HParams(learning_rate=1e-3))
    out = jit_fast(ppo_jax.make_train(config))(jax.random.key(0))
    return config, out


def _evaluate_cartpole(config, state, key, deterministic):
    return np.asarray(EVALUATE(config, state, key, num_episodes=32, deterministic=deterministic))


def test_trained_cartpole_evaluation_is_consistent_with_training(cartpole_agent):
    config, out = cartpole_agent
    train_return = float(np.nanmean(np.asarray(out.metrics["episode_return"])[-2:]))
    stochastic = _evaluate_cartpole(config, out.state, jax.random.key(7), deterministic=False)
    # same stochastic policy (one update later): same ballpark as the last rollouts
    assert 0.5 * train_return < stochastic.mean() < 2.0 * train_return, (
        stochastic.mean(), train_return)
    deterministic = _evaluate_cartpole(config, out.state, jax.random.key(7), deterministic=True)
    # CartPole pays 1 per step: returns are whole episode lengths in [1, 500]
    np.testing.assert_array_equal(deterministic, np.round(deterministic))
    assert deterministic.min() >= 1 and deterministic.max() <= 500
    # it learned something: a random policy averages about 22
    assert deterministic.mean() > 30


def test_policy_and_value_use_the_frozen_obs_statistics(cartpole_agent):
    config, out = cartpole_agent
    stats = out.state.obs_stats
    assert not np.allclose(stats.mean, 0.0)  # statistics were collected
    obs = jnp.array([0.05, -0.3, 0.02, 0.4], jnp.float32)
    network = make_network(config, make_env(config.env).spec)
    normalized = normalize(stats, obs)
    value = ppo_jax.make_value_fn(config, out.state)(obs)
    want = network.apply(out.state.params, normalized, method="value")
    np.testing.assert_allclose(value, want, rtol=1e-6)
    logits = network.apply(out.state.params, normalized, method="policy")["logits"]
    act = ppo_jax.make_policy(config, out.state, deterministic=True)
    assert int(act(jax.random.key(0), obs)) == int(jnp.argmax(logits))
    # evaluation does not update the statistics
    _evaluate_cartpole(config, out.state, jax.random.key(8), deterministic=False)
    np.testing.assert_array_equal(out.state.obs_stats.mean, stats.mean)


# ---------------------------------------------------------------------------
# single agent only
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["make_policy", "make_value_fn", "evaluate"],
                         ids=["make_policy", "make_value_fn", "evaluate"])
def test_population_state_raises_a_clear_error(fn):
    population = jax.tree.map(lambda x: jnp.stack([x, x]), fresh_agent(CHOICE))
    args = (jax.random.key(0),) if fn == "evaluate" else ()
    with pytest.raises(ValueError, match="population") as info:
        getattr(ppo_jax, fn)(CONFIG, population, *args, env=CHOICE)
    assert "x[0]" in str(info.value)  # says how to pick one agent


def test_evaluate_rejects_bad_num_episodes():
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="num_episodes"):
            ppo_jax.evaluate(CONFIG, fresh_agent(CHOICE), jax.random.key(0), num_episodes=bad,
                             env=CHOICE)
