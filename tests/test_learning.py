"""End-to-end learning tests: the presets reach their return thresholds.

Each test trains a vmapped population (`ppo_jax.train_seeds`, one compile) and
scores every seed by its *final return* (`ppo_jax.analysis.statistics.final_return`, the
library's one definition): the mean of `episode_return` over the last 10% of
updates (`np.nanmean`: NaN marks an update in which no episode finished). The
thresholds sit well below what was measured, on the test's seeds and on others
(each test's docstring; the README's presets section and scripts/results/returns-table/rows/),
so the tests check learning, not luck.

Budgets: CartPole 8 seeds x 1.5e5 steps (and 4 seeds with data_parallel=4), Catch 4 x 1e5, Breakout-MinAtar 2 x 1e5,
Acrobot 4 x 5e5, Pendulum 4 x 2e5 (the file's run time is in the README's Tests section).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import best_window_return

import ppo_jax

SEED = 0


def final_returns(out: ppo_jax.TrainOutput) -> np.ndarray:
    """Per-seed final return: [num_seeds]."""
    finals = out.final_return()  # [num_seeds]
    assert not np.isnan(finals).any(), "some seed finished no episode in its last 10% of updates"
    return finals


def describe(finals: np.ndarray) -> str:
    return f"final returns per seed {np.round(finals, 1).tolist()} (mean {finals.mean():.1f})"


@pytest.mark.slow
def test_cartpole_preset_solves_at_gymnax_blines_budget():
    """CartPole-v1 preset at 150k steps (gymnax-blines' budget), 8 seeds.

    Measured: 500 on all 8 seeds of the preset search (seed=0, this test's seeds);
    495.6 (min 469.5) on the returns table's 8 (seed=1000). The per-seed floor leaves room for PPO's occasional late dip
    on CartPole; an agent that never learned ends near 20.
    """
    config = ppo_jax.preset("CartPole-v1")
    assert config.total_timesteps == 149_760  # 585 updates of 8 x 32
    finals = final_returns(ppo_jax.train_seeds(config, num_seeds=8, seed=SEED))
    assert finals.mean() >= 475.0, describe(finals)
    assert finals.min() >= 300.0, describe(finals)


@pytest.mark.slow
def test_cartpole_learns_with_four_data_parallel_groups():
    """CartPole-v1 preset with data_parallel=4 (4 groups of 2 envs), 4 seeds, each seed's
    groups split over as many of the devices as divide 4 (one device in a plain run, all 4
    with 4 forced host devices): every seed reaches 475 (its mean return over the episodes
    of 10 updates in a row), and the final returns hold as the plain preset's test asks (mean >= 450 here,
    every seed >= 300: PPO on CartPole dips late now and then).

    Measured, seed 0: with 4 forced CPU devices final returns 500, 500, 500 and 495.3
    (scripts/results/data-parallel/learning.json); on one device, where float32 rounding
    differs and the runs drift apart, 500, 490.7, 492.7 and 383.0 (the last seed's greedy
    policy: 471 over 32 episodes); every seed reached 500 in both.
    """
    import math

    import jax

    config = ppo_jax.preset("CartPole-v1", data_parallel=4)
    devices = jax.devices()
    out = ppo_jax.train_seeds(config, num_seeds=4, seed=SEED, devices=devices,
                              group_devices=math.gcd(4, len(devices)))
    # NaN: an update in which no episode ended (at 500 steps, most updates of 8 x 32)
    best = best_window_return(out.metrics["episode_return"])
    assert best.min() >= 475.0, np.round(best, 1).tolist()
    finals = final_returns(out)
    assert finals.mean() >= 450.0 and finals.min() >= 300.0, describe(finals)


@pytest.mark.slow
def test_catch_bsuite_preset_catches():
    """Catch-bsuite preset at 100k steps, 4 seeds: +1 a catch, -1 a miss (random: about -0.6)."""
    config = ppo_jax.preset("Catch-bsuite")
    finals = final_returns(ppo_jax.train_seeds(config, num_seeds=4, seed=SEED))
    assert finals.min() >= 0.9, describe(finals)


@pytest.mark.slow
def test_pendulum_preset_swings_up():
    """Pendulum-v1 preset (continuous actions, obs + reward normalization) at 2e5 of
    its 1e6 steps, 4 seeds."""
    config = ppo_jax.preset("Pendulum-v1", total_timesteps=198_656)  # 97 updates of 2048
    assert config.normalize_observations and config.normalize_rewards
    finals = final_returns(ppo_jax.train_seeds(config, num_seeds=4, seed=SEED))
    assert finals.mean() >= -250.0, describe(finals)


@pytest.mark.slow
def test_acrobot_preset_swings_up():
    """Acrobot-v1 preset at 5e5 steps, 4 seeds (gymnax reference: about -80)."""
    config = ppo_jax.preset("Acrobot-v1")
    assert config.total_timesteps <= 500_000
    finals = final_returns(ppo_jax.train_seeds(config, num_seeds=4, seed=SEED))
    assert finals.mean() >= -100.0, describe(finals)
    assert finals.min() >= -120.0, describe(finals)


@pytest.mark.slow
def test_breakout_minatar_preset_learns_at_a_ci_budget():
    """Breakout-MinAtar preset (gymnax-blines' settings, 2x256 relu MLP) at 98,304 of its
    10M steps (12 updates of 64 x 128), 2 seeds.

    Measured on seed sets 0 and 1: final returns 3.50, 3.22 and 3.07, 3.42 (at 24
    updates: 5.5 to 6.0), from about 0.35 at the first updates; the untrained policy
    scores about 0.4. At 10M steps the preset reaches 52.5 (16 seeds on a GPU;
    gymnax's PPO: 28).
    """
    config = ppo_jax.preset("Breakout-MinAtar", total_timesteps=98_304)
    finals = final_returns(ppo_jax.train_seeds(config, num_seeds=2, seed=SEED))
    assert finals.min() >= 2.0, describe(finals)
