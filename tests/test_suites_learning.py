"""Learning on the suites beyond gymnax, end to end, with return thresholds.

Navix's rooms pay 1 on reaching the goal and 0 otherwise, so the mean
episode return is the success rate.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import best_window_return

import ppo_jax


@pytest.mark.slow
def test_navix_empty_room_is_solved_on_every_seed():
    """navix/Navix-Empty-8x8-v0 preset at a CI budget (122,880 steps, 60 updates), 4 seeds:
    success rate at least 0.9 on every seed (measured: about 0.97 to 1.0 from 60k steps)."""
    config = ppo_jax.preset("navix/Navix-Empty-8x8-v0", total_timesteps=122_880)
    out = ppo_jax.train_seeds(config, num_seeds=4, seed=0)
    success = out.final_return()
    assert np.all(success >= 0.9), success.round(3).tolist()
    # and it learned: the first updates succeed far less often
    early = np.nanmean(np.asarray(out.metrics["episode_return"])[:, :3], axis=1)
    assert np.all(early < 0.5), early.round(3).tolist()


@pytest.mark.slow
def test_brax_inverted_pendulum_balances_on_every_seed():
    """brax/inverted_pendulum preset at half its budget (262,144 steps, 128 updates), 4
    seeds: every seed reaches at least 950 of 1000 (issue 12's target: its mean return over
    the episodes of 10 updates in a row), the seeds' mean final return is at least 950,
    and no seed's final return falls below 850.

    The final return is the stochastic training policy's, over the last 13 updates: one
    dropped pole in them (an update's return of 42 against 1000) takes a seed that
    balances to about 940. So "reaches" is read off the best 10 updates, and the final
    returns are held to the mean. Measured (2 cores, AMD EPYC Zen 3): seed set 0 final
    939.7, 977.0, 1000, 1000; seed set 1000 937.8, 1000, 1000, 999.2; every seed's best
    10 updates 1000. On an earlier machine seed set 0 ended at 1000 on every seed (982.2,
    1000, 1000, 984.5 with 4 forced CPU devices), as at the full 524,288. The 8-seed curves
    in scripts/results/tuning/brax-inverted_pendulum/ reach 1000 by about 100k steps.

    With ent_coef 0.01 (the preset until 2026-12-05) a seed now and then ended below
    950 under mujoco 4.0.1 (936.4 with 4 forced CPU devices; 943.9 and 948.6 of 8 seeds
    in scripts/results/tuning/brax-inverted_pendulum/); without the entropy bonus the 8
    seeds there ended at 975 to 1000.
    """
    config = ppo_jax.preset("brax/inverted_pendulum", total_timesteps=262_144)
    out = ppo_jax.train_seeds(config, num_seeds=4, seed=0)
    best, finals = best_window_return(out.metrics["episode_return"]), out.final_return()
    assert np.all(best >= 950.0), f"best 10-update mean return per seed {best.round(1).tolist()}"
    assert finals.mean() >= 950.0 and finals.min() >= 850.0, finals.round(1).tolist()


@pytest.mark.slow
def test_craftax_classic_beats_a_random_policy_clearly():
    """craftax/Craftax-Classic-Symbolic-v1 preset at a CI budget (49,152 steps, 24 updates),
    4 seeds: every seed's final return at least 1.5x, and their mean at least 1.8x, that of
    a uniformly random policy.

    The random policy's mean episode return, measured on 898 episodes (64 envs x 2,000
    steps): 1.41. This preset's curve (scripts/results/tuning/craftax-classic/): 2.7 to
    3.2 per seed after 24 updates, 5.4 at its full 1M steps.
    """
    random_policy_return = 1.41
    config = ppo_jax.preset("craftax/Craftax-Classic-Symbolic-v1", total_timesteps=49_152)
    out = ppo_jax.train_seeds(config, num_seeds=4, seed=0)
    finals = out.final_return()
    assert np.all(finals >= 1.5 * random_policy_return), finals.round(2).tolist()
    assert finals.mean() >= 1.8 * random_policy_return, finals.round(2).tolist()
