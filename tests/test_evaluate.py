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
from ppo_jax.core.normalize import normalize
from ppo_jax.envs.adapters import make_env
from ppo_jax.networks.registry import make_network

DETERMINISTIC = {"deterministic": True, "stochastic": False}
NUM_EPISODES = 64

# evaluate, jitted: compiled once per (config, env, num_episodes, deterministic)
EVALUATE = jit_fast(ppo_jax.evaluate, static_argnums=0,
                    static_argnames=("num_episodes", "deterministic", "env"))

CHOICE = OneStepChoiceEnv()
CONFIG = tiny_config()  # config.env is overridden by the probe env


@functools.cache
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


# ---------------------------------------------------------------------------
# batches of observations; agents that do not fit the config (issue 11)
# ---------------------------------------------------------------------------

@functools.cache
def untrained(env_id: str, hidden_sizes=(16,)):
    config = tiny_config(env=env_id, hidden_sizes=hidden_sizes, normalize_observations=True)
    return config, ppo_jax.make_trainer(config).init(jax.random.key(0))


def _observations(env_id: str, n: int) -> jax.Array:
    import gymnax

    env, params = gymnax.make(env_id)
    return jax.vmap(lambda k: env.reset(k, params)[0])(jax.random.split(jax.random.key(7), n))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"], ids=["discrete", "box"])
@pytest.mark.parametrize("mode", list(DETERMINISTIC), ids=list(DETERMINISTIC))
def test_act_and_value_take_a_batch_of_observations(env_id, mode):
    config, state = untrained(env_id)
    act = ppo_jax.make_policy(config, state, deterministic=DETERMINISTIC[mode])
    value = ppo_jax.make_value_fn(config, state)
    obs, key = _observations(env_id, 5), jax.random.key(3)
    keys = jax.random.split(key, 5)
    batch = act(key, obs)
    single = jnp.stack([act(keys[i], obs[i]) for i in range(5)])  # obs i gets split(key, 5)[i]
    assert batch.shape == single.shape == (5,) + act(key, obs[0]).shape
    np.testing.assert_allclose(batch, single, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(value(obs), jnp.stack([value(o) for o in obs]), rtol=1e-5, atol=1e-7)
    assert value(obs).shape == (5,) and value(obs[0]).shape == ()
    # any leading axes
    assert act(key, obs[:4].reshape((2, 2) + obs.shape[1:])).shape == (2, 2) + single.shape[1:]
    if mode == "stochastic" and env_id == "Pendulum-v1":  # the observations get their own noise
        # (a unit-std sample is clipped at +-1 about a third of the time, so count the interior ones)
        interior = np.asarray(batch)[np.abs(np.asarray(batch)) < 2.0]
        assert len(np.unique(interior)) == interior.size >= 2


def test_an_observation_of_the_wrong_shape_is_named():
    config, state = untrained("CartPole-v1")
    with pytest.raises(ValueError, match=r"act: an observation of CartPole-v1 has shape \(4,\).*got \(5, 3\)"):
        ppo_jax.make_policy(config, state)(jax.random.key(0), jnp.zeros((5, 3)))


@pytest.mark.parametrize("fn", ["make_policy", "evaluate"])
def test_an_agent_of_another_env_names_both_envs_and_the_shapes(fn):
    _, cartpole = untrained("CartPole-v1")
    acrobot_config, _ = untrained("Acrobot-v1")
    args = (jax.random.key(0),) if fn == "evaluate" else ()
    with pytest.raises(ValueError) as info:
        getattr(ppo_jax, fn)(acrobot_config, cartpole, *args)
    message = str(info.value)
    for part in (f"{fn}: the agent does not fit the config", "trained on CartPole-v1 (observation size 4, "
                 "2 policy outputs", "the config is for Acrobot-v1 (observation size 6, 3 policy outputs",
                 "actor/Dense_0/kernel: agent [4, 16], config [6, 16]"):
        assert part in message


def test_an_agent_of_another_network_names_the_hidden_sizes():
    config, state = untrained("CartPole-v1")
    with pytest.raises(ValueError, match=r"hidden sizes \(16,\).*hidden sizes \(32, 32\).*"
                                         r"actor/Dense_0/kernel: agent \[4, 16\], config \[4, 32\]"):
        ppo_jax.make_value_fn(config.replace(hidden_sizes=(32, 32)), state)


@pytest.mark.parametrize("fn", ["make_policy", "make_value_fn", "evaluate"])
def test_a_custom_env_agent_asks_for_its_env(fn):
    state = fresh_agent(CHOICE)  # trained (initialised) with env=OneStepChoiceEnv()
    assert state.custom_env and state.env_name == "OneStepChoiceEnv"
    args = (jax.random.key(0),) if fn == "evaluate" else ()
    with pytest.raises(ValueError, match=r"this agent was trained on a custom env OneStepChoiceEnv; "
                                         r"pass env=OneStepChoiceEnv\(...\)"):
        getattr(ppo_jax, fn)(CONFIG, state, *args)
