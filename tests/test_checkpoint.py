"""ppo_jax.save / ppo_jax.load: round trips, atomicity, clear errors.

States come from `trainer.init` (cheap to compile) with non-trivial
observation-normalization statistics written in, so a round trip that lost
or reset them would change actions and evaluation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax.checkpoint import CheckpointError, abstract_state

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = ppo_jax.PPOConfig(
    env="CartPole-v1", total_timesteps=128, num_envs=2, num_steps=16, num_minibatches=2,
    update_epochs=1, hidden_sizes=(8,), normalize_observations=True,
)
NUM_SEEDS = 3


_INIT = jax.jit(jax.vmap(ppo_jax.make_trainer(CONFIG).init, in_axes=(0, None)))


def make_population(seed=0, num_seeds=NUM_SEEDS) -> ppo_jax.TrainState:
    """Fresh agents with distinct, non-trivial normalizer statistics and update counts."""
    state = _INIT(jax.random.split(jax.random.key(seed), num_seeds), CONFIG.hparams)
    obs_dim = state.obs_stats.mean.shape[-1]
    rng = np.random.default_rng(seed)
    stats = state.obs_stats.replace(
        mean=jnp.asarray(rng.normal(size=(num_seeds, obs_dim)), jnp.float32),
        var=jnp.asarray(rng.uniform(0.1, 3.0, size=(num_seeds, obs_dim)), jnp.float32),
        count=jnp.full((num_seeds,), 1000.0, jnp.float32),
    )
    return state.replace(obs_stats=stats, update_step=jnp.full((num_seeds,), 7, jnp.int32))


def agent(state, i):
    return jax.tree.map(lambda x: x[i], state)


def assert_states_equal(a, b):
    def data(x):
        return jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x

    la, ta = jax.tree.flatten(jax.tree.map(data, a))
    lb, tb = jax.tree.flatten(jax.tree.map(data, b))
    assert ta == tb
    for x, y in zip(la, lb):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def population():
    return make_population()


@pytest.fixture(scope="module")
def saved(population, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "population"
    ppo_jax.save(path, CONFIG, population, metadata={"note": "test"})
    return path


def test_round_trip_population_is_identical(population, saved):
    config, state = ppo_jax.load(saved)
    assert config == CONFIG
    assert_states_equal(state, population)
    assert jnp.issubdtype(state.key.dtype, jax.dtypes.prng_key)


@jax.jit
def agent_outputs(state):
    """Deterministic and sampled actions and values on a fixed batch of 64 observations,
    and the returns of 4 evaluation episodes, for one agent."""
    obs = 2.0 * jax.random.normal(jax.random.key(3), (64, 4))
    keys = jax.random.split(jax.random.key(4), 64)
    return {
        "greedy": jax.vmap(ppo_jax.make_policy(CONFIG, state, deterministic=True))(keys, obs),
        "sampled": jax.vmap(ppo_jax.make_policy(CONFIG, state, deterministic=False))(keys, obs),
        "value": jax.vmap(ppo_jax.make_value_fn(CONFIG, state))(obs),
        "returns": ppo_jax.evaluate(CONFIG, state, jax.random.key(5), num_episodes=4),
    }


def test_round_trip_gives_identical_actions_and_evaluation(population, saved):
    _, loaded = ppo_jax.load(saved)
    before, after = agent_outputs(agent(population, 1)), agent_outputs(agent(loaded, 1))
    for name in before:
        np.testing.assert_array_equal(np.asarray(before[name]), np.asarray(after[name]), err_msg=name)
    # the normalizer matters: the same params with fresh statistics act differently
    one = agent(population, 1)
    fresh = one.replace(obs_stats=one.obs_stats.replace(
        mean=jnp.zeros_like(one.obs_stats.mean), var=jnp.ones_like(one.obs_stats.var)))
    assert not np.array_equal(np.asarray(agent_outputs(fresh)["value"]), np.asarray(before["value"]))


def test_single_agent_round_trip(population, tmp_path):
    one = agent(population, 2)
    ppo_jax.save(tmp_path / "one", CONFIG, one)
    config, state = ppo_jax.load(tmp_path / "one", CONFIG)
    assert config == CONFIG and state.update_step.shape == ()
    assert_states_equal(state, one)


def test_checkpoint_info(saved):
    info = ppo_jax.checkpoint_info(saved)
    assert info["config"] == CONFIG
    assert info["batch_shape"] == (NUM_SEEDS,)
    assert info["update_step"] == 7
    assert info["metadata"] == {"note": "test"}


def test_saving_again_replaces_the_checkpoint(population, tmp_path):
    path = tmp_path / "ckpt"
    ppo_jax.save(path, CONFIG, population)
    other = make_population(seed=1)
    ppo_jax.save(path, CONFIG, other)
    assert_states_equal(ppo_jax.load(path)[1], other)
    assert len([d for d in os.listdir(path) if d.isdigit()]) == 1  # the old one is gone


def test_failed_save_leaves_previous_checkpoint(population, tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    path = tmp_path / "ckpt"
    ppo_jax.save(path, CONFIG, population)

    def failing_write(self, *args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ocp.JsonCheckpointHandler, "async_save", failing_write)
    with pytest.raises(OSError, match="disk full"):
        ppo_jax.save(path, CONFIG, make_population(seed=1))
    monkeypatch.undo()
    assert_states_equal(ppo_jax.load(path)[1], population)
    ppo_jax.save(path, CONFIG, make_population(seed=2))  # and saving works again
    assert_states_equal(ppo_jax.load(path)[1], make_population(seed=2))


def test_process_killed_mid_save_leaves_previous_checkpoint(population, tmp_path):
    """A subprocess dies (os._exit, no cleanup) after the arrays are written, before the commit."""
    path = tmp_path / "ckpt"
    ppo_jax.save(path, CONFIG, population)
    script = textwrap.dedent(f"""
        import os
        import orbax.checkpoint as ocp
        import ppo_jax

        config, state = ppo_jax.load({str(path)!r})
        state = state.replace(update_step=state.update_step + 1)

        def die(self, *args, **kwargs):  # after the arrays are written, before the commit
            os._exit(17)

        ocp.JsonCheckpointHandler.async_save = die
        ppo_jax.save({str(path)!r}, config, state)
        os._exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 17, proc.stderr[-2000:]
    assert any("tmp" in name for name in os.listdir(path))  # the half-written save is there...
    assert_states_equal(ppo_jax.load(path)[1], population)  # ...and ignored


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        ppo_jax.load(tmp_path / "nothing_here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        ppo_jax.load(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        ppo_jax.load(tmp_path / "file")


@pytest.mark.parametrize(
    "name, changes, message",
    [
        ("env", dict(env="Acrobot-v1"), "env: checkpoint 'CartPole-v1', given 'Acrobot-v1'"),
        ("hidden_sizes", dict(hidden_sizes=(16, 16)), r"hidden_sizes: checkpoint \(8,\), given \(16, 16\)"),
        ("num_envs", dict(num_envs=4, total_timesteps=256), "num_envs: checkpoint 2, given 4"),
        ("normalization", dict(normalize_observations=False), "normalize_observations"),
    ],
)
def test_incompatible_config_names_the_difference(saved, name, changes, message):
    with pytest.raises(CheckpointError, match=message):
        ppo_jax.load(saved, CONFIG.replace(**changes))


def test_compatible_config_with_other_budget_loads(saved, population):
    config, state = ppo_jax.load(saved, CONFIG.replace(total_timesteps=10_016, learning_rate=1e-3))
    assert config == CONFIG  # the saved config is returned
    assert_states_equal(state, population)


def test_wrong_env_instance_names_the_arrays(saved):
    import gymnax

    env, env_params = gymnax.make("Acrobot-v1")  # obs dim 6 instead of 4
    with pytest.raises(CheckpointError, match=r"obs_stats/mean: checkpoint float32\[3, 4\], expected "
                                              r"float32\[3, 6\]"):
        ppo_jax.load(saved, env=env, env_params=env_params)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's
def test_corrupt_checkpoint_raises_clear_error(population, tmp_path):
    path = tmp_path / "ckpt"
    ppo_jax.save(path, CONFIG, population)
    data_files = [p for p in path.rglob("*") if p.is_file() and "state" in p.parts and p.parent.name == "d"]
    assert data_files
    for p in data_files:
        p.write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        ppo_jax.load(path)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's
def test_corrupt_metadata_raises_clear_error(population, tmp_path):
    path = tmp_path / "ckpt"
    ppo_jax.save(path, CONFIG, population)
    (meta,) = [p for p in path.rglob("metadata") if p.parent.name == "meta"]
    meta.write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read its metadata"):
        ppo_jax.load(path)


def test_save_rejects_wrong_types(population, tmp_path):
    with pytest.raises(TypeError, match="PPOConfig"):
        ppo_jax.save(tmp_path / "x", CONFIG.to_dict(), population)
    with pytest.raises(TypeError, match="TrainState"):
        ppo_jax.save(tmp_path / "x", CONFIG, {"params": 1})


def test_abstract_state_matches_real_state(population):
    abstract = abstract_state(CONFIG, (NUM_SEEDS,))
    shapes = jax.tree.map(lambda x: (x.shape, x.dtype), abstract)
    assert shapes == jax.tree.map(lambda x: (x.shape, x.dtype), population)


# ------------------------------------------------- mismatches and custom envs ---


@pytest.mark.parametrize("changes, message", [
    (dict(env="Acrobot-v1"), r"save: the agent does not fit the config. The agent was trained on "
                             r"CartPole-v1 .* the config is for Acrobot-v1"),
    (dict(hidden_sizes=(16,)), r"actor/Dense_0/kernel: agent \[4, 8\], config \[4, 16\]"),
], ids=["env", "hidden_sizes"])
def test_saving_a_mismatched_pair_raises_and_keeps_the_old_checkpoint(population, tmp_path, changes,
                                                                      message):
    path = tmp_path / "ckpt"
    ppo_jax.save(path, CONFIG, population, metadata={"note": "good"})
    before = sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    with pytest.raises(ValueError, match=message):
        ppo_jax.save(path, CONFIG.replace(**changes), population)
    with pytest.raises(ValueError, match=message):
        ppo_jax.save(tmp_path / "new", CONFIG.replace(**changes), population)
    assert not (tmp_path / "new").exists()  # nothing written
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*")) == before
    config, state = ppo_jax.load(path)
    assert config == CONFIG and ppo_jax.checkpoint_info(path)["metadata"] == {"note": "good"}
    assert_states_equal(state, population)


def _custom_env_agent():
    from test_probes import ConstantRewardEnv

    env = ConstantRewardEnv(max_steps_in_episode=3)
    return env, ppo_jax.make_trainer(CONFIG, env=env).init(jax.random.key(0))


def test_a_custom_env_is_recorded_and_asked_for(tmp_path):
    env, state = _custom_env_agent()
    path = ppo_jax.save(tmp_path / "custom", CONFIG, state)
    assert ppo_jax.checkpoint_info(path)["custom_env"] == "ConstantRewardEnv"
    with pytest.raises(CheckpointError, match=r"this agent was trained on a custom env "
                                              r"ConstantRewardEnv; pass env=ConstantRewardEnv\(...\)"):
        ppo_jax.load(path)
    config, loaded = ppo_jax.load(path, env=env)
    assert loaded.custom_env and loaded.env_name == "ConstantRewardEnv"
    assert_states_equal(loaded, state)
    with pytest.raises(ValueError, match="trained on a custom env ConstantRewardEnv; pass env="):
        ppo_jax.evaluate(config, loaded, jax.random.key(0), num_episodes=2)
    returns = ppo_jax.evaluate(config, loaded, jax.random.key(0), num_episodes=2, env=env)
    np.testing.assert_array_equal(returns, [3.0, 3.0])
    # a gymnax env id records no custom env
    ppo_jax.save(tmp_path / "builtin", CONFIG, agent(make_population(), 0))
    assert ppo_jax.checkpoint_info(tmp_path / "builtin")["custom_env"] is None


def test_checkpoints_without_the_custom_env_entry_still_load(population, tmp_path):
    """Checkpoints written before custom envs were recorded have no `custom_env` key."""
    import json

    path = tmp_path / "old"
    ppo_jax.save(path, CONFIG, population)
    (meta_file,) = path.glob("*/meta/metadata")
    meta = json.loads(meta_file.read_text())
    del meta["config"]["custom_env"]
    meta_file.write_text(json.dumps(meta))
    assert ppo_jax.checkpoint_info(path)["custom_env"] is None
    config, state = ppo_jax.load(path)
    assert config == CONFIG
    assert_states_equal(state, population)
