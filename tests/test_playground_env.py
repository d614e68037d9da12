"""MuJoCo Playground (`playground/<name>`): env names, options and their errors, the
missing-models error (before anything loads), and the episode ends: the time limit
(with action repeat), termination (a fall; a NaN physics state), the final
observation and the reset.

Most tests step a tiny stand-in for a Playground env (`FakeRobot`, loaded through a
patched `registry.load`, with a dict observation like the locomotion envs'): it
compiles in a moment and its rewards and ends are known exactly. One test steps the
real DM Control CartpoleBalance on MJX. The conformance suite
(tests/test_env_protocol.py, case "playground") covers the rest, vmapped included.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast, needs

import ppo_jax
from ppo_jax.envs.suites import playground_env

pytestmark = needs("mujoco_playground")


@pytest.fixture(scope="module")
def registry():
    from mujoco_playground import registry
    return registry


@pytest.fixture(scope="module")
def mjx_env():
    from mujoco_playground._src import mjx_env
    return mjx_env

LOCOMOTION_ENV = "Go1Getup"  # any env that needs MuJoCo Menagerie


# ------------------------------------------------------------ names and options ---


def test_env_names_are_dm_control_then_the_menagerie_envs(registry):
    names = playground_env.env_names()
    dm_control = playground_env.dm_control_names()
    assert len(dm_control) == 25 and names[:25] == dm_control
    assert {"CartpoleBalance", "WalkerWalk", "CheetahRun", "HumanoidRun"} <= set(dm_control)
    assert {"Go1JoystickFlatTerrain", "G1JoystickRoughTerrain", "PandaPickCube", "LeapCubeReorient"} <= set(
        names[25:])
    assert sorted(names) == sorted(registry.ALL_ENVS)


@pytest.mark.parametrize("kwargs, match", [
    (dict(env="playground/Cartpole"), r"playground has no env 'Cartpole'; valid: .*playground/CartpoleBalance"),
    (dict(env="playground/CartpoleBalance", env_options={"frame_skip": 2}),
     r"'frame_skip' is not an option of the playground suite; valid: episode_length, action_repeat"),
    (dict(env="playground/CartpoleBalance", env_options={"episode_length": 0}),
     r"episode_length.* positive integer"),
    (dict(env="playground/CartpoleBalance", env_options={"action_repeat": 1.5}),
     r"action_repeat.* positive integer"),
])
def test_bad_names_and_options_fail_with_the_valid_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ppo_jax.PPOConfig(**kwargs)


def test_overrides_select_mjx_and_pass_the_time_limit_where_the_config_has_it():
    assert playground_env.config_overrides("CartpoleBalance", None, None) == {"impl": "jax"}
    assert playground_env.config_overrides("CartpoleBalance", 7, 2) == {
        "impl": "jax", "episode_length": 7, "action_repeat": 2}


# ------------------------------------------------------------- menagerie models ---


def test_missing_menagerie_fails_before_anything_loads(monkeypatch, tmp_path, registry, mjx_env):
    absent = tmp_path / "external_deps" / "mujoco_menagerie"
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", absent)
    monkeypatch.setattr(registry, "load", lambda *a, **k: pytest.fail("registry.load ran (it would git clone)"))
    with pytest.raises(ValueError) as error:
        ppo_jax.make_train(ppo_jax.PPOConfig(env=f"playground/{LOCOMOTION_ENV}"))
    message = str(error.value)
    for part in (f"'playground/{LOCOMOTION_ENV}'", "MuJoCo Menagerie", "models are missing", str(absent),
                 f"git clone {playground_env.MENAGERIE_URL} {absent}", mjx_env.MENAGERIE_COMMIT_SHA):
        assert part in message, part
    assert not absent.exists()


def test_dm_control_needs_no_menagerie(monkeypatch, tmp_path, mjx_env):
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", tmp_path / "absent")
    playground_env.check_models_present("CartpoleBalance")  # no error


# ----------------------------------------- a stand-in robot with a dict observation ---


class FakeRobot:
    """A Playground-like env: position += action[0] per control step, reward 1 per control
    step (NaN once the position is NaN), `done` (a fall) at position >= 10 or NaN.
    Observation {"state": [position, control steps], "privileged_state": [position] * 3}."""

    action_size = 2

    def __init__(self, overrides):
        from ml_collections import config_dict
        self._config = config_dict.create(episode_length=int(overrides.get("episode_length", 1000)),
                                          action_repeat=int(overrides.get("action_repeat", 1)))

    @staticmethod
    def observe(data):
        return {"state": data, "privileged_state": jnp.full((3,), data[0])}

    def reset(self, rng):
        from mujoco_playground._src import mjx_env
        data = jnp.stack([jax.random.uniform(rng, (), maxval=0.1), 0.0])
        zero = jnp.zeros(())
        return mjx_env.State(data, self.observe(data), zero, zero, {}, {})

    def step(self, state, action):
        data = state.data + jnp.stack([action[0], 1.0])
        done = (data[0] >= 10) | jnp.isnan(data[0])
        return state.replace(data=data, obs=self.observe(data), reward=1.0 + 0.0 * data[0],
                             done=done.astype(jnp.float32))


@pytest.fixture
def fake_robot(monkeypatch, tmp_path, registry, mjx_env):
    """make(**options) -> the `PlaygroundEnv` LOCOMOTION_ENV, a `FakeRobot` inside; the
    overrides Playground was given are recorded in `loaded`."""
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", tmp_path)  # present
    loaded = {}

    def load(name, config=None, config_overrides=None):
        loaded.update(name=name, overrides=config_overrides)
        return FakeRobot(config_overrides)

    monkeypatch.setattr(registry, "load", load)

    def make(**options):
        env = playground_env.make(LOCOMOTION_ENV, **options)
        return env, jit_fast(env.reset), jit_fast(env.step)

    make.loaded = loaded
    return make


def play(reset, step, action, num_steps: int, key=jax.random.key(0)):
    """Steps one env `num_steps` times with a fixed action: the list of EnvSteps."""
    _, state = reset(key)
    outs = []
    for t in range(num_steps):
        out = step(jax.random.fold_in(key, t), state, jnp.asarray(action, jnp.float32))
        outs.append(out)
        state = out.state
    return outs


def test_dict_observations_pass_through_as_a_structured_spec(fake_robot):
    env, reset, _ = fake_robot()
    assert fake_robot.loaded == {"name": LOCOMOTION_ENV, "overrides": {"impl": "jax"}}
    assert env.spec.structured and env.spec.obs_dim == 5 and env.spec.action_size == 2
    np.testing.assert_array_equal(env.spec.action_low, [-1, -1])
    np.testing.assert_array_equal(env.spec.action_high, [1, 1])
    obs, _ = reset(jax.random.key(0))
    assert set(obs) == {"state", "privileged_state"}


def test_time_limit_counts_control_steps_and_sums_repeated_rewards(fake_robot):
    """episode_length 5 control steps, action_repeat 2: agent steps of 2, 2 and 1 -> 3 agent
    steps, truncated at the third (not terminated), each reward the sum over its repeats."""
    env, reset, step = fake_robot(episode_length=5, action_repeat=2)
    assert env.max_episode_steps == 3
    assert fake_robot.loaded["overrides"] == {"impl": "jax", "episode_length": 5, "action_repeat": 2}
    outs = play(reset, step, [0.5, 0.0], 4)
    assert [bool(o.truncated) for o in outs] == [False, False, True, False]
    assert not any(bool(o.terminated) for o in outs)
    assert [float(o.reward) for o in outs] == [2.0, 2.0, 2.0, 2.0]
    # the step that truncates: final_obs reached 6 control steps, obs is a fresh reset
    np.testing.assert_allclose(outs[2].final_obs["state"][1], 6.0)
    reset_obs, _ = reset(jax.random.fold_in(jax.random.key(0), 2))
    jax.tree.map(np.testing.assert_array_equal, outs[2].obs, reset_obs)
    assert int(outs[2].state.steps) == 0 and int(outs[3].state.steps) == 2


def test_a_fall_terminates_and_freezes_the_rest_of_the_repeat(fake_robot):
    """action 6 from [0, 0.1): the second control step reaches 12 >= 10 (a fall): terminated,
    not truncated; the third repeat is not taken (reward 2, position 12, not 3 and 18)."""
    _, reset, step = fake_robot(action_repeat=3)
    out = play(reset, step, [6.0, 0.0], 1)[0]
    assert bool(out.terminated) and not bool(out.truncated)
    assert float(out.reward) == 2.0
    np.testing.assert_allclose(out.final_obs["state"][1], 2.0)
    assert float(out.final_obs["state"][0]) >= 12.0
    assert float(out.obs["state"][1]) == 0.0  # reset


def test_diverged_physics_terminates_with_no_nan_reaching_the_update(fake_robot):
    _, reset, step = fake_robot()
    out = play(reset, step, [np.nan, 0.0], 1)[0]
    assert bool(out.terminated) and not bool(out.truncated)
    assert float(out.reward) == 0.0
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves((out.final_obs, out.obs)))


# ------------------------------------------------------------- the real thing ---


def test_dm_control_cartpole_runs_on_mjx_and_truncates_at_its_limit():
    env = playground_env.make("CartpoleBalance", episode_length=3)
    assert env.env.mjx_model.impl.value == "jax"
    assert env.spec.obs_dim == 5 and not env.spec.structured and env.max_episode_steps == 3
    reset, step = jit_fast(env.reset), jit_fast(env.step)
    outs = play(reset, step, [0.0], 4, key=jax.random.key(1))
    assert [bool(o.truncated) for o in outs] == [False, False, True, False]
    assert not any(bool(o.terminated) for o in outs)
    assert all(0.0 < float(o.reward) <= 1.0 for o in outs)  # DM Control rewards lie in [0, 1]
    np.testing.assert_array_equal(outs[1].obs, outs[1].final_obs)  # no reset mid-episode
    reset_obs, _ = reset(jax.random.fold_in(jax.random.key(1), 2))
    np.testing.assert_array_equal(outs[2].obs, reset_obs)
    assert not np.allclose(outs[2].final_obs, outs[2].obs)


def test_vmapped_reset_only_where_an_env_ended_for_a_population(fake_robot):
    """[2 agents, 3 envs]: only env (0, 1) falls (action 20); it alone restarts, the others
    go on, exactly as each stepped alone."""
    env, _, step = fake_robot()
    keys = jax.random.split(jax.random.key(2), 6).reshape(2, 3)
    _, states = jax.vmap(jax.vmap(env.reset))(keys)
    actions = jnp.zeros((2, 3, 2)).at[0, 1, 0].set(20.0)
    out = jit_fast(jax.vmap(jax.vmap(env.step)))(keys, states, actions)
    ended = np.zeros((2, 3), bool)
    ended[0, 1] = True
    np.testing.assert_array_equal(out.terminated, ended)
    np.testing.assert_array_equal(out.state.steps, np.where(ended, 0, 1))
    for index in np.ndindex(2, 3):
        one = step(keys[index], jax.tree.map(lambda x, at=index: x[at], states), actions[index])
        jax.tree.map(lambda a, b, at=index: np.testing.assert_allclose(a[at], b), out.obs, one.obs)
