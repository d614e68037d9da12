"""Recurrent PPO learns what a feed-forward policy cannot (thresholds from measured runs).

- The memory probe (`ppo_jax.envs.probes.CueMemoryEnv`, k = 10): the GRU's greedy policy is
  right on every episode for every seed; the MLP's scores chance.
- MaskedCartPole-v1 (no velocities) at a CI-sized budget: the GRU preset
  clearly above the MLP with the same settings.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax.envs.probes import CueMemoryEnv

MASKED_GRU_MIN = 120.0
MASKED_MLP_MAX = 80.0
PROBE = ppo_jax.PPOConfig(network="gru", total_timesteps=40_960, num_envs=8, num_steps=64,
                          num_minibatches=4, hidden_sizes=(32,), rnn_size=32).replace(learning_rate=3e-3)


def _greedy_returns(config, outs, env, num_episodes: int = 200) -> np.ndarray:
    """[num_seeds] mean greedy return of each seed over `num_episodes` fresh episodes
    (seed i plays with key 100 + i; all seeds in one compiled program)."""
    keys = jnp.stack([jax.random.key(100 + i) for i in range(outs.final_return().shape[0])])
    play = jax.jit(jax.vmap(lambda state, key: ppo_jax.evaluate(config, state, key, num_episodes, env=env)))
    return np.asarray(play(outs.state, keys)).mean(axis=1)


@pytest.mark.slow
def test_gru_solves_the_memory_probe_and_an_mlp_scores_chance():
    env = CueMemoryEnv(delay=10)
    gru = ppo_jax.train_seeds(PROBE, num_seeds=4, seed=0, env=env)
    np.testing.assert_array_equal(_greedy_returns(PROBE, gru, env), 1.0)  # optimal, every seed
    mlp_config = PROBE.replace(network="mlp", hidden_sizes=(32, 32))
    mlp = ppo_jax.train_seeds(mlp_config, num_seeds=4, seed=0, env=env)
    mlp_returns = _greedy_returns(mlp_config, mlp, env)
    # The MLP sees the same query whatever the cue: 0.5 in expectation (sd 0.035 over 200).
    assert np.all((mlp_returns > 0.38) & (mlp_returns < 0.62)), mlp_returns


@pytest.mark.slow
def test_gru_balances_masked_cartpole_where_an_mlp_cannot():
    """CartPole without velocities, at a CI-sized 122,880 steps (60 updates of the preset's
    2,048): the GRU preset passes MASKED_GRU_MIN on both seeds (measured: 210 and 180 for
    seed=0, 182 and 297 for seed=1; it reaches 484 to 500 at its 1M budget); an MLP with
    the same settings stays near 50 (49 to 52 on the same seeds), whatever its budget."""
    config = ppo_jax.preset("MaskedCartPole-v1", total_timesteps=122_880)
    gru = ppo_jax.train_seeds(config, num_seeds=2, seed=0).final_return()
    mlp_config = config.replace(network="mlp", hidden_sizes=(128, 128))
    mlp = ppo_jax.train_seeds(mlp_config, num_seeds=2, seed=0).final_return()
    assert np.all(gru >= MASKED_GRU_MIN), gru
    assert np.all(mlp < MASKED_MLP_MAX), mlp
