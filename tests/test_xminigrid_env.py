"""The XLand-MiniGrid suite (`xminigrid/<id>`): its ids, options and their errors, the
refused XLand ids, and its episode ends (truncation, termination, the reset in the
same step and the final observation). The protocol conformance case is in
tests/test_env_protocol.py ("xminigrid").

MiniGrid-Empty-5x5 starts the agent at row 1, column 1, facing right, with the goal
at row 3, column 3: forward, forward, turn right, forward, forward reaches it in 5
steps. Actions: 0 forward, 1 turn right, 2 turn left.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast

import ppo_jax
from ppo_jax.envs.adapters import make_env
from ppo_jax.envs.suites.xminigrid_env import XMiniGridEnv, env_names

FORWARD, TURN_RIGHT, TURN_LEFT = 0, 1, 2
TO_THE_GOAL = (FORWARD, FORWARD, TURN_RIGHT, FORWARD, FORWARD)  # MiniGrid-Empty-5x5, 5 steps


@functools.cache
def compiled(max_steps: int):
    """MiniGrid-Empty-5x5 with `max_steps` and its jitted reset and step, built once per module."""
    env = XMiniGridEnv("MiniGrid-Empty-5x5", max_steps=max_steps)
    return env, jit_fast(env.reset), jit_fast(env.step)


def play(max_steps: int, actions, key=jax.random.key(0)):
    """Resets MiniGrid-Empty-5x5 and steps it with `actions`: (the first observation,
    the EnvStep of each step)."""
    _, reset, step = compiled(max_steps)
    obs, state = reset(key)
    outs = []
    for t, action in enumerate(actions):
        outs.append(step(jax.random.fold_in(key, t), state, jnp.asarray(action)))
        state = outs[-1].state
    return obs, outs


def test_only_the_minigrid_ids_are_offered():
    names = env_names()
    assert len(names) == 23 and all(n.startswith("MiniGrid-") for n in names)
    assert {"MiniGrid-Empty-5x5", "MiniGrid-DoorKey-8x8", "MiniGrid-FourRooms"} <= set(names)
    assert ppo_jax.PPOConfig(env="xminigrid/MiniGrid-DoorKey-8x8").env == "xminigrid/MiniGrid-DoorKey-8x8"


def test_xland_ids_are_refused_naming_the_benchmark_download():
    with pytest.raises(ValueError, match=r"XLand-MiniGrid ids are not supported: their task is a ruleset "
                                         r"from a benchmark .*downloads from Hugging Face.*valid: "
                                         r"xminigrid/MiniGrid-BlockedUnlockPickUp"):
        make_env("xminigrid/XLand-MiniGrid-R1-9x9")
    # and the config, checked on construction, gives the same reason
    with pytest.raises(ValueError, match=r"XLand-MiniGrid ids are not supported: .*valid: .*MiniGrid-Empty-5x5"):
        ppo_jax.PPOConfig(env="xminigrid/XLand-MiniGrid-R1-9x9")


@pytest.mark.parametrize("options, match", [
    ({"max_steps": 0}, r"max_steps.* positive integer"),
    ({"max_steps": 2.5}, r"max_steps.* positive integer"),
    ({"view_size": 4}, r"env_options\['view_size'\] 4 is not an odd integer >= 3 \(valid: 3, 5, 7, ...\)"),
    ({"view_size": 1}, r"view_size'\] 1 is not an odd integer >= 3"),
    ({"height": 9}, r"'height' is not an option of the xminigrid suite; valid: max_steps, view_size"),
])
def test_bad_options_fail_naming_the_field_and_the_valid_choices(options, match):
    with pytest.raises(ValueError, match=match):
        ppo_jax.PPOConfig(env="xminigrid/MiniGrid-Empty-6x6", env_options=options)


@pytest.mark.parametrize("name, options, time_limit, obs_shape", [
    ("MiniGrid-Empty-6x6", {}, 144, (7, 7, 2)),  # XLand-MiniGrid's default: 4 * height * width
    ("MiniGrid-MemoryS8", {}, 320, (3, 3, 2)),  # the Memory tasks see 3 x 3
    ("MiniGrid-Empty-6x6", {"max_steps": 20, "view_size": 5}, 20, (5, 5, 2)),
])
def test_options_set_the_time_limit_and_the_view(name, options, time_limit, obs_shape):
    env = XMiniGridEnv(name, **options)
    assert env.max_episode_steps == time_limit and env.params.max_steps == time_limit
    assert env.spec.obs_shape == obs_shape and env.spec.num_actions == 6
    obs = jax.eval_shape(lambda key: env.reset(key)[0], jax.random.key(0))
    assert obs.shape == obs_shape and obs.dtype == jnp.uint8


def test_time_limit_truncates_and_resets_in_the_same_step_keeping_the_final_view():
    """Turning right on the spot never reaches the goal: max_steps 5 truncates at step 5.
    That step already holds the reset (Empty-5x5 always starts alike: its first view
    again); its final observation is the view after five right turns, which is the view
    after one. The next episode counts its steps from 0."""
    first_obs, outs = play(5, [TURN_RIGHT] * 6)
    ended = [(bool(o.terminated), bool(o.truncated)) for o in outs]
    assert ended == [(False, False)] * 4 + [(False, True), (False, False)]
    last = outs[4]
    assert float(last.reward) == 0.0
    np.testing.assert_array_equal(np.asarray(last.obs), np.asarray(first_obs))
    np.testing.assert_array_equal(np.asarray(last.final_obs), np.asarray(outs[0].obs))
    assert not np.array_equal(np.asarray(last.final_obs), np.asarray(last.obs))
    assert int(last.state.state.step_num) == 0 and int(outs[5].state.state.step_num) == 1
    np.testing.assert_array_equal(np.asarray(outs[5].obs), np.asarray(outs[0].obs))
    # before the end, obs and final_obs are the same view
    np.testing.assert_array_equal(np.asarray(outs[1].obs), np.asarray(outs[1].final_obs))
    # and the views are XLand-MiniGrid's own: one right turn = three left ones
    _, left = play(5, [TURN_LEFT] * 3)
    np.testing.assert_array_equal(np.asarray(left[2].obs), np.asarray(outs[0].obs))


@pytest.mark.parametrize("max_steps, reward", [(100, 1 - 0.9 * 5 / 100), (5, 1 - 0.9 * 5 / 5)],
                         ids=["before-the-limit", "on-the-last-step"])
def test_reaching_the_goal_terminates_with_the_time_discounted_reward(max_steps, reward):
    """The goal reached at step 5 terminates (no bootstrap), paying 1 - 0.9 * 5 / max_steps,
    and counts as termination, not truncation, even on the time limit's last step."""
    first_obs, outs = play(max_steps, TO_THE_GOAL)
    assert [bool(o.terminated) for o in outs] == [False] * 4 + [True]
    assert not any(bool(o.truncated) for o in outs)
    assert [float(o.reward) for o in outs[:4]] == [0.0] * 4
    assert float(outs[-1].reward) == pytest.approx(reward, abs=1e-6)
    np.testing.assert_array_equal(np.asarray(outs[-1].obs), np.asarray(first_obs))
    assert not np.array_equal(np.asarray(outs[-1].final_obs), np.asarray(first_obs))


def test_one_update_trains_a_cnn_on_the_view(make_tiny_config):
    """One PPO update with network="cnn" on the (7, 7, 2) view: finite losses, a gradient."""
    config = make_tiny_config("xminigrid/MiniGrid-Empty-5x5", network="cnn", conv_channels=(8,),
                              num_updates=1, num_envs=2, num_steps=8, num_minibatches=1, hidden_sizes=(8,))
    out = jit_fast(ppo_jax.make_train(config))(jax.random.key(0), config.hparams)
    assert out.metrics["timesteps"].tolist() == [16]
    for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        assert np.isfinite(out.metrics[name]).all(), name
    assert out.metrics["grad_norm"][0] > 0


def raw(x) -> np.ndarray:
    """An array as numpy; a typed PRNG key as its key data."""
    return np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)


def test_resetting_only_the_ended_envs_equals_resetting_every_env():
    """The env resets only the envs that ended (`sparse_reset`): that must equal XLand-MiniGrid's
    reset for every env at every step, selected where the episode ended, at steps where no
    env ends, a few do (the pooled branch: at most 2 of 8) or many do (the full one).
    EmptyRandom's reset draws the agent's cell and heading from the key."""
    env = XMiniGridEnv("MiniGrid-EmptyRandom-5x5", max_steps=5)

    def reference_step(key, timestep, action):  # a reset for every env at every step
        nxt = env.env.step(env.params, timestep, action)
        reset = env.env.reset(env.params, key)
        return jax.tree.map(lambda r, c: jnp.where(nxt.step_type == 2, r, c), reset, nxt)

    # env i first ends at step 5 - t_i (if it does not reach the goal first)
    start_times = jnp.array([0, 1, 1, 4, 4, 4, 4, 4])
    keys = jax.random.split(jax.random.key(0), 8)
    _, state = jax.vmap(env.reset)(keys)
    state = state.replace(state=state.state.replace(step_num=start_times))
    ours, theirs = jit_fast(jax.vmap(env.step)), jit_fast(jax.vmap(reference_step))
    ended_counts = []
    for t in range(6):
        step_keys = jax.random.split(jax.random.key(t + 1), 8)
        actions = jax.random.randint(jax.random.key(100 + t), (8,), 0, 3)
        out, ref = ours(step_keys, state, actions), theirs(step_keys, state, actions)
        for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(out.state), jax.tree.leaves(ref)):
            np.testing.assert_array_equal(raw(a), raw(b), err_msg=jax.tree_util.keystr(path))
        np.testing.assert_array_equal(np.asarray(out.obs), np.asarray(ref.observation))
        ended_counts.append(int((out.terminated | out.truncated).sum()))
        state = out.state
    assert 0 in ended_counts and any(0 < n <= 2 for n in ended_counts) and any(n > 2 for n in ended_counts), \
        ended_counts
