"""One conformance suite run against every env adapter: gymnax (Discrete and Box
actions), a user's own `Env` protocol env, Brax, Navix, Craftax, MuJoCo Playground,
Jumanji (structured observations with an action mask) and XLand-MiniGrid.

Each case says at which step its first episode ends and how (terminated or
truncated) under a fixed action, so the tests check the step, not just that
some flag was set. Plus: the env-id prefix dispatch, suite options and their
errors, and the Box action mapping onto the env's bounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CompileCounter, jit_fast
from flax import struct

import ppo_jax
from ppo_jax.envs.adapters import GymnaxAdapter, ProtocolAdapter, make_env
from ppo_jax.envs.spec import EnvSpec, EnvStep

# ------------------------------------------------ a user's env (the README example) ---


@struct.dataclass
class WalkState:
    position: jax.Array
    time: jax.Array


class RandomWalk:
    """Walk on a line from a random start: action 1 steps right, 0 left. Reaching 3
    terminates (reward 1); 8 steps truncate. The README's ten-line example env."""

    spec = EnvSpec.discrete_actions(obs_shape=(2,), num_actions=2)

    def reset(self, key):
        state = WalkState(jax.random.randint(key, (), -2, 3), jnp.zeros((), jnp.int32))
        return self.observe(state), state

    def observe(self, state):
        return jnp.stack([state.position, state.time]).astype(jnp.float32)

    def step(self, key, state, action):
        moved = WalkState(state.position + 2 * action - 1, state.time + 1)
        terminated = moved.position >= 3
        truncated = (moved.time >= 8) & ~terminated
        reset_obs, reset_state = self.reset(key)
        ended = terminated | truncated
        state = jax.tree.map(lambda r, m: jnp.where(ended, r, m), reset_state, moved)
        return EnvStep(obs=jnp.where(ended, reset_obs, self.observe(moved)), state=state,
                       reward=terminated.astype(jnp.float32), terminated=terminated,
                       truncated=truncated, final_obs=self.observe(moved))


# ---------------------------------------------------------------------- the cases ---


@dataclasses.dataclass(frozen=True)
class Case:
    """An adapter, a fixed action, and where (and how) its first episode ends."""

    name: str
    make: Callable[[], Any]
    action: Any
    end_step: int | None  # 1-based step at which the first episode ends (None: varies by key)
    ends_by: str  # "terminated", "truncated" or "either"


def brax_adapter(**options):
    return make_env("brax/inverted_pendulum", env_options=tuple(options.items()))


CASES = [
    Case("gymnax-discrete", lambda: make_env("CartPole-v1"), 0, None, "terminated"),
    Case("gymnax-box", lambda: make_env("Pendulum-v1"), np.zeros(1, np.float32), 200, "truncated"),
    Case("protocol-user-env", lambda: ProtocolAdapter(RandomWalk()), 0, 8, "truncated"),
    Case("brax", lambda: brax_adapter(episode_length=5), np.zeros(1, np.float32), 5, "truncated"),
    Case("brax-action-repeat", lambda: brax_adapter(episode_length=6, action_repeat=2),
         np.zeros(1, np.float32), 3, "truncated"),
    # action 0 turns on the spot: the time limit ends the episode; the view has turned
    Case("navix", lambda: make_env("navix/Navix-Empty-Random-5x5-v0", env_options=(("max_steps", 5),)),
         0, 5, "truncated"),
    # a fresh world follows the end: the final observation is the old world's
    Case("craftax", lambda: make_env("craftax/Craftax-Classic-Symbolic-v1",
                                     env_options=(("max_timesteps", 4),)), 0, 4, "truncated"),
    # structured obs (the pytree with its flat mask, flattened by the adapter). Maze: a time
    # limit Jumanji reports as a termination is truncated here; a new maze follows
    Case("jumanji-maze", lambda: make_env("jumanji/Maze-v0", env_options=(("time_limit", 5),)),
         0, 5, "truncated"),
    # a joint action flattened: 3 is (rotation 0, column 3) of Tetris' [4, 10]
    Case("jumanji-tetris", lambda: make_env("jumanji/Tetris-v0", env_options=(("time_limit", 3),)),
         3, 3, "truncated"),
    Case("playground", lambda: make_env("playground/CartpoleBalance", env_options=(("episode_length", 5),)),
         np.zeros(1, np.float32), 5, "truncated"),  # DM Control: only the time limit ends it
    # action 1 turns on the spot (the view turns with it) until max_steps truncates
    Case("xminigrid", lambda: make_env("xminigrid/MiniGrid-EmptyRandom-5x5", env_options=(("max_steps", 5),)),
         1, 5, "truncated"),
]
IDS = [c.name for c in CASES]


@dataclasses.dataclass
class Compiled:
    """An adapter and its jitted functions, compiled once per case (Brax compiles slowly)."""

    adapter: Any
    reset: Callable
    step: Callable
    vreset: Callable
    vstep: Callable


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    adapter = request.param.make()
    return request.param, Compiled(adapter, jit_fast(adapter.reset), jit_fast(adapter.step),
                                   jit_fast(jax.vmap(adapter.reset)), jit_fast(jax.vmap(adapter.step)))


def run_episode(compiled: Compiled, action, key, max_steps: int = 600):
    """Steps one env with a fixed action until its first episode ends."""
    obs, state = compiled.reset(key)
    step = compiled.step
    action = jnp.asarray(action)
    for t in range(1, max_steps + 1):
        key, step_key = jax.random.split(key)
        out = step(step_key, state, action)
        if bool(out.terminated) or bool(out.truncated):
            return t, obs, out
        obs, state = out.obs, out.state
    raise AssertionError(f"no episode ended within {max_steps} steps")


def test_shapes_and_dtypes(case):
    case, compiled = case
    spec = compiled.adapter.spec
    obs, state = compiled.reset(jax.random.key(0))
    assert obs.shape == (spec.obs_dim,) and obs.dtype == jnp.float32
    assert spec.obs_dim == int(np.prod(spec.obs_shape)) or spec.obs_shape == ()
    out = compiled.step(jax.random.key(1), state, jnp.asarray(case.action))
    for name in ("obs", "final_obs"):
        assert getattr(out, name).shape == (spec.obs_dim,) and getattr(out, name).dtype == jnp.float32
    assert out.reward.shape == () and out.reward.dtype == jnp.float32
    assert out.terminated.dtype == jnp.bool_ and out.truncated.dtype == jnp.bool_
    assert jax.tree.structure(out.state) == jax.tree.structure(state)


def leaf_types(tree) -> list:
    return [(jax.tree_util.keystr(path), x.shape, x.dtype, getattr(x, "weak_type", False))
            for path, x in jax.tree_util.tree_leaves_with_path(tree)]


def test_step_returns_the_state_types_reset_returns(case):
    """Same shapes, dtypes and weak types, one env and vmapped: otherwise a jitted step
    compiles again on its second call (gymnax's Pendulum and Navix reset to weakly typed
    leaves that their steps return strong; XLand-MiniGrid the other way round)."""
    case, compiled = case
    action = jnp.asarray(case.action)
    _, state = jax.eval_shape(compiled.adapter.reset, jax.random.key(0))
    out = jax.eval_shape(compiled.adapter.step, jax.random.key(1), state, action)
    assert leaf_types(out.state) == leaf_types(state)
    keys = jax.random.split(jax.random.key(0), 3)
    _, states = jax.eval_shape(jax.vmap(compiled.adapter.reset), keys)
    out = jax.eval_shape(jax.vmap(compiled.adapter.step), keys, states, jnp.stack([action] * 3))
    assert leaf_types(out.state) == leaf_types(states)


def test_episode_ends_at_the_right_step_the_right_way(case):
    case, compiled = case
    length, last_obs, out = run_episode(compiled, case.action, jax.random.key(3))
    if case.end_step is not None:
        assert length == case.end_step
    assert not (bool(out.terminated) and bool(out.truncated))
    if case.ends_by != "either":
        assert bool(getattr(out, case.ends_by)), (case.ends_by, out.terminated, out.truncated)
    # the episode's totals are reported on the step that ends it, then reset
    assert int(out.episode_length) == length
    assert int(out.state.episode_length) == 0 and float(out.state.episode_return) == 0.0


def test_final_observation_is_the_reached_one_not_the_reset_one(case):
    case, compiled = case
    _, _, out = run_episode(compiled, case.action, jax.random.key(4))
    # every env here moves away from its reset observation by the end of an episode
    assert not np.allclose(np.asarray(out.final_obs), np.asarray(out.obs))


def test_vmapped_equals_single(case):
    case, compiled = case
    keys = jax.random.split(jax.random.key(5), 3)
    obs, states = compiled.vreset(keys)
    actions = jnp.stack([jnp.asarray(case.action)] * 3)
    batched = compiled.vstep(keys, states, actions)
    for i in range(3):
        single_obs, single_state = compiled.reset(keys[i])
        np.testing.assert_allclose(np.asarray(obs[i]), np.asarray(single_obs), rtol=1e-5, atol=1e-6)
        single = compiled.step(keys[i], single_state, jnp.asarray(case.action))
        for name in ("obs", "final_obs", "reward"):
            np.testing.assert_allclose(np.asarray(getattr(batched, name)[i]),
                                       np.asarray(getattr(single, name)), rtol=1e-5, atol=1e-6)


def test_jittable_and_deterministic_per_key(case):
    case, compiled = case
    reset = compiled.reset
    a, _ = reset(jax.random.key(7))
    b, _ = reset(jax.random.key(7))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    others = [np.asarray(reset(jax.random.key(k))[0]) for k in range(8, 12)]
    assert any(not np.array_equal(o, np.asarray(a)) for o in others), "reset ignores its key"


# ---------------------------------------------------------- dispatch and options ---


def test_env_ids_dispatch_on_the_prefix():
    assert isinstance(make_env("CartPole-v1"), GymnaxAdapter)
    adapter = brax_adapter()
    assert isinstance(adapter, ProtocolAdapter) and adapter.env_name == "brax/inverted_pendulum"
    assert not adapter.custom
    assert ProtocolAdapter(RandomWalk()).custom
    assert isinstance(make_env("navix/Navix-DoorKey-5x5-v0"), ProtocolAdapter)
    ids = ppo_jax.available_envs(suites=True)
    assert {"brax/hopper", "navix/Navix-DoorKey-5x5-v0", "craftax/Craftax-Classic-Symbolic-v1"} <= set(ids)
    assert "brax/hopper" not in ppo_jax.available_envs()


@pytest.mark.parametrize("kwargs, match", [
    (dict(env="brax/nope"), r"brax has no env 'nope'; valid: brax/ant, .*brax/walker2d"),
    (dict(env="mujoco/hopper"), r"unknown suite prefix 'mujoco'; valid: .*brax/<name>"),
    (dict(env="Hopper-v1"), r"not a gymnax env id or a <suite>/<name> id"),
    (dict(env="brax/hopper", env_options={"backend": "bullet"}),
     r"env_options\['backend'\] 'bullet' is not one of generalized, positional, spring, mjx"),
    (dict(env="brax/hopper", env_options={"frame_skip": 2}),
     r"'frame_skip' is not an option of the brax suite; valid: backend, episode_length, action_repeat"),
    (dict(env="brax/hopper", env_options={"episode_length": 0}), r"episode_length.* positive integer"),
    (dict(env="CartPole-v1", env_options={"backend": "mjx"}), "gymnax envs take no options"),
    (dict(env="navix/Navix-Maze-v0"), r"navix has no env 'Navix-Maze-v0'; valid: .*navix/Navix-DoorKey-5x5-v0"),
    (dict(env="craftax/Craftax-Classic-Pixels-v1"),
     r"valid: craftax/Craftax-Classic-Symbolic-v1, craftax/Craftax-Symbolic-v1"),
    (dict(env="navix/Navix-Empty-5x5-v0", env_options={"max_steps": -1}), r"max_steps.* positive integer"),
    (dict(env="craftax/Craftax-Symbolic-v1", env_options={"episode_length": 5}),
     r"'episode_length' is not an option of the craftax suite; valid: max_timesteps"),
    (dict(env="brax/hopper", env_options=[1, 2]), "env_options must be a dict"),
])
def test_bad_env_ids_and_options_fail_with_the_valid_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ppo_jax.PPOConfig(**kwargs)


@pytest.mark.parametrize("env_id, package, extra", [
    ("brax/hopper", "brax", "brax"), ("navix/Navix-Empty-5x5-v0", "navix", "navix"),
    ("craftax/Craftax-Symbolic-v1", "craftax", "craftax"),
    ("playground/CartpoleBalance", "mujoco_playground", "playground"), ("jumanji/Snake-v1", "jumanji", "jumanji"),
    ("xminigrid/MiniGrid-Empty-5x5", "xminigrid", "xminigrid")])
def test_a_missing_suite_package_names_the_extra(monkeypatch, env_id, package, extra):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    with CompileCounter() as counter, pytest.raises(
            ValueError, match=rf"'{package}' package is not installed; install the extra: "
                              rf"pip install -e \"\.\[{extra}\]\""):
        ppo_jax.PPOConfig(env=env_id)
    assert counter.count == 0


def test_env_options_are_hashable_static_and_round_trip():
    config = ppo_jax.PPOConfig(env="brax/hopper", env_options={"episode_length": 500, "backend": "positional"})
    assert config.env_options == (("backend", "positional"), ("episode_length", 500))
    hash(config)
    assert ppo_jax.PPOConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["env_options"] == {"backend": "positional", "episode_length": 500}


# The quick tier's smoke run of every suite: one PPO update, compiled as users compile it.
SUITE_SMOKE_ENVS = {
    "gymnax": ("CartPole-v1", ()),
    "brax": ("brax/inverted_pendulum", (("episode_length", 8),)),
    "navix": ("navix/Navix-Empty-5x5-v0", ()),
    "craftax": ("craftax/Craftax-Classic-Symbolic-v1", ()),
    "playground": ("playground/CartpoleBalance", (("episode_length", 8),)),
    "jumanji": ("jumanji/Maze-v0", (("time_limit", 8),)),
    "xminigrid": ("xminigrid/MiniGrid-Empty-5x5", ()),
}


@pytest.mark.parametrize("suite", list(SUITE_SMOKE_ENVS), ids=[f"suite={name}" for name in SUITE_SMOKE_ENVS])
def test_one_update_trains_in_every_suite(suite, make_tiny_config):
    env, options = SUITE_SMOKE_ENVS[suite]
    config = make_tiny_config(env, env_options=options, num_updates=1, num_envs=2, num_steps=8,
                              num_minibatches=2, hidden_sizes=(8,))
    out = jit_fast(ppo_jax.make_train(config))(jax.random.key(0), config.hparams)
    assert out.metrics["timesteps"].tolist() == [16]
    for name in ("policy_loss", "value_loss", "entropy", "grad_norm", "approx_kl"):
        assert np.isfinite(out.metrics[name]).all(), name
    assert out.metrics["grad_norm"][0] > 0  # the update saw a gradient
    # approx_kl is the mean over the two minibatch steps of KL(rollout policy || policy
    # before the step): 0 at the first step, so it is positive only if the first step
    # moved the policy. (Comparing parameters with a separately compiled `init` would
    # compile every suite's reset again: Craftax's world generation, MJX's model.)
    assert out.metrics["approx_kl"][0] > 0, "the first minibatch step did not move the policy"


def test_a_non_env_object_is_refused_with_the_protocol():
    with pytest.raises(TypeError, match=r"neither a gymnax Environment nor a ppo_jax.envs.Env.*spec"):
        ppo_jax.make_train(ppo_jax.PPOConfig(), env=object())


# ------------------------------------------------------------- Box action mapping ---


@pytest.mark.parametrize("low, high", [([-0.1, -0.1], [0.1, 0.1]), ([0.0, -3.0], [2.0, 1.0])],
                         ids=["point-robot-0.1", "asymmetric"])
def test_box_actions_map_the_unit_interval_onto_the_bounds(low, high):
    """The policy acts in [-1, 1]: -1 -> low, 0 -> the middle, 1 -> high, clipped beyond."""

    class Box:
        spec = EnvSpec.box_actions((1,), low, high)

    adapter = ProtocolAdapter.__new__(ProtocolAdapter)
    adapter.spec, adapter._action_shape = Box.spec, (2,)
    low, high = np.asarray(low), np.asarray(high)
    for unit, expected in ((-1.0, low), (0.0, (low + high) / 2), (1.0, high), (5.0, high), (-7.0, low)):
        got = adapter.env_action(jnp.full((2,), unit, jnp.float32))
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, atol=1e-7)


def test_point_robot_gets_actions_scaled_to_its_bounds():
    """gymnax PointRobot-misc has bounds +-0.1: a policy output of 0.5 is 0.05, not 0.1 (clipped)."""
    adapter = make_env("PointRobot-misc")
    np.testing.assert_allclose(np.asarray(adapter.spec.action_high), 0.1)
    np.testing.assert_allclose(np.asarray(adapter.env_action(jnp.full((2,), 0.5))), 0.05, rtol=1e-6)


def test_craftax_generates_worlds_only_when_needed_with_the_same_result():
    """The adapter generates worlds only for the envs that ended (`sparse_reset`); that
    must equal generating one for every env at every step (Craftax's own wrapper, up to
    rounding in the world generator), at
    steps where no env ends, a few do (the pooled branch) or many do (the full one),
    for a population of agents (vmap over agents of vmap over envs)."""
    from ppo_jax.envs.adapters import strong_types
    from ppo_jax.envs.suites.craftax_env import CraftaxEnv
    from ppo_jax.util.batching import reset_pool_size

    env = CraftaxEnv("Craftax-Classic-Symbolic-v1", max_timesteps=5)

    def reference_step(key, state, action):  # a world for every env at every step
        step_key, reset_key = jax.random.split(key)
        obs, nxt, reward, done, _ = env.env.step(step_key, state, action, env.params)
        terminated = env.env.is_terminal(nxt, env._no_limit)
        ended = done | terminated
        reset_obs, reset_state = env.reset(reset_key)
        state = jax.tree.map(lambda r, c: jnp.where(ended, r, c), reset_state, nxt)
        return jnp.where(ended, reset_obs, obs.astype(jnp.float32)), state

    # env i ends first at step 5 - t_i, then every 5 steps. Steps 2 and 3: no env ends;
    # step 4: 2 envs of agent 0 (the pool of 2 serves them); steps 1, 5, 6: more than 2
    # in one agent, so every env of both agents is reset and selected
    start_times = jnp.array([[0, 1, 1, 4, 4, 4, 4, 4], [4, 0, 0, 0, 0, 0, 0, 0]])
    num_agents, num_envs = start_times.shape
    assert reset_pool_size(num_envs) == 2
    keys = jax.random.split(jax.random.PRNGKey(0), num_agents * num_envs).reshape(num_agents, num_envs, -1)
    _, state = jax.vmap(jax.vmap(env.reset))(keys)
    # the adapter's types (`strong_types`): Craftax resets to weakly typed leaves that its
    # step returns strong, and each jitted step below would compile twice
    state = strong_types(state.replace(timestep=start_times))
    ours, theirs = jit_fast(jax.vmap(jax.vmap(env.step))), jit_fast(jax.vmap(jax.vmap(reference_step)))
    key = jax.random.PRNGKey(1)

    def assert_same_step(out, ref_obs, ref_state):
        """Envs that went on: identical. New worlds: the same draw, but XLA rounds the
        generator's noise differently at other batch sizes (here the pool of 2 against all
        8), which moves a few terrain borders, so maps agree on most cells, not all."""
        ended = np.asarray(out.terminated | out.truncated)
        np.testing.assert_array_equal(np.asarray(out.obs)[~ended], np.asarray(ref_obs)[~ended])
        for (path, ours_leaf), ref_leaf in zip(jax.tree_util.tree_leaves_with_path(out.state),
                                               jax.tree.leaves(ref_state)):
            ours_leaf, ref_leaf = np.asarray(ours_leaf), np.asarray(ref_leaf)
            np.testing.assert_array_equal(ours_leaf[~ended], ref_leaf[~ended])
            if jax.tree_util.keystr(path) == ".map":
                agree = (ours_leaf[ended] == ref_leaf[ended]).mean(axis=(1, 2))
                assert np.all(agree >= 0.8), agree
            elif ended.any():
                np.testing.assert_array_equal(ours_leaf[ended], ref_leaf[ended], err_msg=jax.tree_util.keystr(path))
        assert np.all(np.asarray(out.state.timestep)[ended] == 0)
    ended_counts = []
    for _ in range(6):
        key, k = jax.random.split(key)
        step_keys = jax.random.split(k, num_agents * num_envs).reshape(num_agents, num_envs, -1)
        actions = jax.random.randint(k, (num_agents, num_envs), 0, 17)
        out = ours(step_keys, state, actions)
        assert_same_step(out, *theirs(step_keys, state, actions))
        state = out.state  # both go on from the same states
        ended_counts.append((out.terminated | out.truncated).sum(axis=1).tolist())
    assert ended_counts == [[5, 1], [0, 0], [0, 0], [2, 0], [1, 7], [5, 1]], ended_counts


def test_craftax_renders_its_pixel_view():
    """Craftax's own pixel renderer (for GIFs): 9 x 9 blocks of 16 pixels and the
    inventory rows below, uint8, jittable."""
    env = make_env("craftax/Craftax-Classic-Symbolic-v1").env
    _, state = env.reset(jax.random.PRNGKey(0))
    image = np.asarray(jit_fast(env.render)(state))
    assert image.shape == (144, 144, 3) and image.dtype == np.uint8 and image.std() > 10


@pytest.mark.parametrize("name, side_view", [("hopper", True), ("reacher", False)])
def test_brax_renders_a_stick_figure_in_the_plane_of_the_body(name, side_view):
    """hopper stands in the x-z plane (a side view, with the grey ground line); reacher
    lies in the x-y plane (a top view, no ground). The body is drawn in blue."""
    env = make_env(f"brax/{name}").env
    image = np.asarray(jax.jit(lambda key: env.render(env.reset(key)[1]))(jax.random.PRNGKey(0)))
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    blue = (image == [60, 120, 200]).all(axis=-1)
    grey = (image == [150, 150, 150]).all(axis=-1)
    assert blue.sum() > 50 and (grey.sum() > 200) == side_view
    if side_view:  # hopper: taller than wide, standing on the ground line
        rows, cols = np.nonzero(blue)
        assert np.ptp(rows) > 2 * np.ptp(cols)
        assert abs(rows.max() - np.nonzero(grey)[0].mean()) <= 3
