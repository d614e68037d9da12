"""Every preset: it is built without a rounding warning, and its own settings (envs,
steps, minibatches, network) train to finite numbers: one update here (a smoke test per
env), or a whole learning test elsewhere (of its twin, for presets that are another's
settings on a sibling env). What each preset reaches is measured by
scripts/returns_table.py and the learning tests."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from conftest import jit_fast

import ppo_jax

# Presets whose own settings a learning test trains (tests/test_learning.py,
# test_recurrent_learning.py, test_suites_learning.py); the rest get one update here.
LEARNING_TESTED = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "Catch-bsuite", "Breakout-MinAtar",
                   "MaskedCartPole-v1", "navix/Navix-Empty-8x8-v0", "brax/inverted_pendulum",
                   "craftax/Craftax-Classic-Symbolic-v1", "xminigrid/MiniGrid-Empty-6x6")


@pytest.mark.parametrize("env_id", ppo_jax.preset_envs())
def test_every_preset_has_a_budget_of_whole_updates(env_id):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = ppo_jax.preset(env_id)
    assert not [w for w in caught if issubclass(w.category, UserWarning)], [str(w.message) for w in caught]
    assert config.env == env_id and config.steps_run == config.total_timesteps


# Presets that are another preset's settings on a sibling env (checked below): the twin's
# learning test or one-update run trains the settings. The MinAtar envs run in test_envs.py's
# smoke runs; the other siblings are their suites' own envs behind the same adapter.
SAME_SETTINGS_AS = {
    **{game: "Breakout-MinAtar" for game in
       ("Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar", "Seaquest-MinAtar")},
    **{env_id: "brax/inverted_double_pendulum" for env_id in
       ("brax/hopper", "brax/walker2d", "brax/halfcheetah", "brax/ant", "brax/reacher")},
    # MuJoCo Playground's PPO settings, the same for its three envs; each MJX model took
    # 15 to 30 s to compile and run for one update on 2 cores
    **{env_id: "playground/CartpoleBalance" for env_id in ("playground/CartpoleSwingup", "playground/WalkerWalk")},
}


def test_presets_that_share_settings_differ_only_in_the_env():
    for env_id, twin in SAME_SETTINGS_AS.items():
        assert ppo_jax.preset(env_id) == ppo_jax.preset(twin).replace(env=env_id)


def test_brax_paper_presets_are_the_ablations_clipped_setting(load_script):
    """The Brax presets measured in the README are scripts/ablation.py's PPO-paper settings
    with clipping at 0.2, at the paper's 1M steps (rounded to whole 2048-step batches)."""
    ablation = load_script("ablation")
    for env_id in ("brax/inverted_double_pendulum", "brax/hopper", "brax/walker2d", "brax/halfcheetah",
                   "brax/ant", "brax/reacher"):
        assert ppo_jax.preset(env_id) == ablation.base_config(env_id, 999_424, num_envs=8)


# Presets sized for a GPU (MuJoCo Playground's: 2048 envs x 480 steps, as its Brax PPO):
# their one update runs the same settings on 8 envs x 32 steps.
GPU_SIZED_BATCH = 65_536


@pytest.mark.parametrize("env_id", [e for e in ppo_jax.preset_envs()
                                    if e not in LEARNING_TESTED and e not in SAME_SETTINGS_AS])
def test_every_other_preset_trains_one_update_of_its_settings(env_id):
    config = ppo_jax.preset(env_id)
    if config.batch_size > GPU_SIZED_BATCH:  # the same settings on a CPU-sized batch
        config = config.replace(num_envs=8, num_steps=32, num_minibatches=4, data_parallel=1)
    one_update = config.replace(total_timesteps=config.batch_size)
    out = jit_fast(ppo_jax.make_train(one_update))(jax.random.key(0))
    for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        assert np.isfinite(np.asarray(out.metrics[name])).all(), name
    assert not np.asarray(out.metrics["diverged"]).any()


def test_preset_envs_lists_the_tuned_envs_and_only_valid_ids():
    envs = ppo_jax.preset_envs()
    assert set(LEARNING_TESTED) <= set(envs)
    assert set(envs) <= set(ppo_jax.available_envs(suites=True))
