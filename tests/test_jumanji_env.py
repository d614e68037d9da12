"""The Jumanji suite (`ppo_jax.envs.suites.jumanji_env`), env side, against Jumanji itself.

- every supported env resets and steps under jit (vmapped), with the observation
  pytree the spec declares and the mask leaf flat [num_actions];
- the flat mask is Jumanji's own (joint) mask reshaped, and a step with a flat
  index equals Jumanji's env stepped with the unravelled action;
- episode ends: `episode_ends` on named cases; time limits (Jumanji's own, which it
  reports as terminations, and ours) come out truncated at the right step;
- options and ids fail in `PPOConfig`, before anything compiles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_fast, needs

import ppo_jax
from ppo_jax.envs.suites import jumanji_env
from ppo_jax.envs.suites.jumanji_env import JumanjiEnv, episode_ends, unflatten_action

pytestmark = needs("jumanji")

# id -> (Jumanji's action component sizes, max_episode_steps)
EXPECTED = {
    "BinPack-v2": ((40, 20), 20),
    "Game2048-v1": ((4,), None),
    "Knapsack-v1": ((50,), 50),
    "Maze-v0": ((4,), 100),
    "Minesweeper-v0": ((10, 10), 90),
    "Snake-v1": ((4,), 4000),
    "Sudoku-v0": ((9, 9, 9), 81),
    "Sudoku-very-easy-v0": ((9, 9, 9), 81),
    "TSP-v1": ((20,), 20),
    "Tetris-v0": ((4, 10), 400),
}


def test_every_offered_id_is_tested_here():
    assert sorted(EXPECTED) == jumanji_env.env_names()


def legal_step_against_jumanji(env: JumanjiEnv, key: jax.Array):
    """Resets one env, picks a random legal flat action, and steps both ours and Jumanji's
    env (with the unravelled action): everything the checks below compare."""
    obs, state = env.reset(key)
    their_state, their_first = env._stepper.reset(key)
    flat = jax.random.categorical(key, jnp.where(obs.action_mask, 0.0, -jnp.inf))
    out = env.step(key, state, flat)
    multi = unflatten_action(flat, env.action_dims)
    _, their_next = env._stepper.step(their_state, multi)
    return obs, state, their_first.observation, flat, multi, out, their_next


def assert_same_leaves(ours, theirs):
    """Two observations equal leaf by leaf, ours' flat mask against Jumanji's joint one reshaped."""
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    np.testing.assert_array_equal(np.asarray(ours.action_mask), np.asarray(theirs.action_mask).reshape(-1))
    for mine, their in zip(jax.tree.leaves(ours._replace(action_mask=0)),
                           jax.tree.leaves(theirs._replace(action_mask=0))):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(their))


# BinPack's step compiles for 10 s on 2 cores (twice here: ours and Jumanji's): slow tier
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "BinPack-v2" else n
                                  for n in sorted(EXPECTED)])
def test_resets_and_steps_under_jit_as_jumanji_does(name):
    env = jumanji_env.make(name)
    dims, max_steps = EXPECTED[name]
    assert env.action_dims == dims and env.max_episode_steps == max_steps
    assert env.spec.num_actions == int(np.prod(dims)) and env.spec.action_mask == "action_mask"
    obs, state, theirs, flat, multi, out, their_next = jit_fast(legal_step_against_jumanji, static_argnums=0)(
        env, jax.random.key(0))
    # the observation: Jumanji's pytree (the spec's), the mask flat bool [num_actions]
    example = jax.eval_shape(lambda k: env.reset(k)[0], jax.random.key(0))
    assert jax.tree.structure(obs) == jax.tree.structure(example) == jax.tree.structure(out.final_obs)
    assert obs.action_mask.shape == (env.spec.num_actions,) and obs.action_mask.dtype == jnp.bool_
    assert_same_leaves(obs, theirs)
    # the flat index maps back to the multi-index of the joint mask (numpy's row-major order)
    multi = tuple(np.asarray(multi).reshape(-1).tolist())
    assert multi == tuple(int(i) for i in np.unravel_index(int(flat), dims))
    assert np.asarray(theirs.action_mask)[multi]  # legal in Jumanji's own mask
    # the step with the flat index is Jumanji's step with the unravelled action
    assert_same_leaves(out.final_obs, their_next.observation)
    assert float(out.reward) == float(their_next.reward) and out.reward.dtype == jnp.float32
    assert bool(out.terminated | out.truncated) == bool(their_next.last())
    assert out.terminated.dtype == jnp.bool_ and int(out.state.steps) == 1
    assert jax.tree.structure(out.state) == jax.tree.structure(state)


@pytest.mark.parametrize("terminal, discount, mask, steps, time_limit, expected", [
    (False, 1.0, [True, False], 3, None, (False, False)),
    (False, 1.0, [True, False], 3, 5, (False, False)),
    (True, 0.0, [True, False], 3, None, (True, False)),
    (False, 1.0, [True, False], 5, 5, (False, True)),
    (True, 0.0, [True, False], 5, 5, (True, False)),  # ended on its own at the limit: terminated
    (True, 1.0, [True, False], 3, None, (False, True)),  # Jumanji's own truncation (discount 1)
    (False, 1.0, [False, False], 3, 5, (True, False)),  # no legal action left (a trapped snake)
    (False, 1.0, [False, False], 5, 5, (True, False)),
], ids=["none", "none-under-limit", "terminated", "truncated-by-limit", "both-terminated-wins",
        "jumanji-truncation", "no-legal-action", "no-legal-action-at-limit"])
def test_episode_ends(terminal, discount, mask, steps, time_limit, expected):
    from jumanji.types import termination, transition, truncation

    make = termination if terminal and discount == 0 else truncation if terminal else transition
    timestep = make(reward=jnp.zeros(()), observation=jnp.zeros(()))
    assert float(timestep.discount) == discount
    terminated, truncated = episode_ends(timestep, jnp.asarray(mask), jnp.asarray(steps), time_limit)
    assert (bool(terminated), bool(truncated)) == expected


def run_first_legal(env, their_env, key, num_steps: int):
    """Steps ours and Jumanji's env `num_steps` times with the first legal action; returns
    per step (terminated, truncated, steps after) and Jumanji's (last, discount)."""
    obs, state = jit_fast(env.reset)(key)
    their_state, _ = jit_fast(their_env.reset)(key)
    step, their_step = jit_fast(env.step), jit_fast(their_env.step)
    ours, theirs = [], []
    for _ in range(num_steps):
        flat = jnp.argmax(obs.action_mask)
        out = step(key, state, flat)
        their_state, timestep = their_step(their_state, unflatten_action(flat, env.action_dims))
        ours.append((bool(out.terminated), bool(out.truncated), int(out.state.steps)))
        theirs.append((bool(timestep.last()), float(timestep.discount)))
        obs, state = out.obs, out.state
    return ours, theirs


@pytest.mark.parametrize("name", ["Snake-v1", "Maze-v0", "Tetris-v0", "Game2048-v1"])
def test_time_limits_are_truncations(name):
    """Jumanji's own limit (Snake, Maze, Tetris) ends the episode as a termination
    (discount 0); ours reports the same step as truncated. 2048 has none: ours counts."""
    env = jumanji_env.make(name, time_limit=3)
    assert env.time_limit == 3 and env.max_episode_steps == 3
    ours, theirs = run_first_legal(env, env.env, jax.random.key(1), 4)
    assert ours == [(False, False, 1), (False, False, 2), (False, True, 0), (False, False, 1)]
    if name in jumanji_env.NATIVE_TIME_LIMIT:  # Jumanji: LAST with discount 0 at its limit
        assert env.env.time_limit == 3
        assert theirs[2] == (True, 0.0)


def test_default_time_limits_are_jumanjis():
    assert {n: jumanji_env.make(n).time_limit for n in jumanji_env.NATIVE_TIME_LIMIT} == {
        "Maze-v0": 100, "Snake-v1": 4000, "Tetris-v0": 400}
    assert jumanji_env.make("Sudoku-v0").time_limit is None


def test_a_trapped_snake_is_terminated_where_jumanji_waits_a_step():
    """A snake whose every move runs into its body: the mask is all False, so the step that
    traps it ends the episode (Jumanji would end it on the next, illegal, move)."""
    env = jumanji_env.make("Snake-v1")
    _, state = jit_fast(env.reset)(jax.random.key(0))
    s = state.env_state
    # body cells (row, col) in the order they were entered (1 = the tail); the head moves left
    # from (1, 2) into (1, 1), whose other neighbours (0, 1), (2, 1), (1, 0) stay body after
    # the tail moves on (Jumanji's mask counts the tail cell as free)
    cells = {(3, 2): 1, (3, 1): 2, (2, 1): 3, (2, 0): 4, (1, 0): 5, (0, 0): 6, (0, 1): 7, (0, 2): 8,
             (1, 2): 9}
    body_state = jnp.zeros_like(s.body_state)
    for cell, order in cells.items():
        body_state = body_state.at[cell].set(order)
    s = s.replace(body=body_state > 0, body_state=body_state, tail=body_state == 1,
                  head_position=s.head_position.__class__(row=jnp.int32(1), col=jnp.int32(2)),
                  length=jnp.int32(9), fruit_position=s.fruit_position.__class__(row=jnp.int32(5),
                                                                                  col=jnp.int32(5)))
    left = 3
    out = jit_fast(env.step)(jax.random.key(1), state.replace(env_state=s), jnp.asarray(left))
    assert not bool(out.final_obs.action_mask.any())
    assert bool(out.terminated) and not bool(out.truncated)
    _, theirs = jit_fast(env._stepper.step)(s, jnp.asarray(left))
    assert not bool(theirs.last())  # Jumanji goes on to an illegal move


@pytest.mark.parametrize("kwargs, match", [
    (dict(env="jumanji/Sokoban-v0"),
     r"jumanji has no env 'Sokoban-v0'; valid: jumanji/BinPack-v2, .*jumanji/Tetris-v0"),
    (dict(env="jumanji/Snake-v1", env_options={"time_limit": 0}), r"time_limit.* positive integer"),
    (dict(env="jumanji/Snake-v1", env_options={"max_steps": 5}),
     r"'max_steps' is not an option of the jumanji suite; valid: time_limit"),
])
def test_bad_ids_and_options_fail_before_compiling(kwargs, match, monkeypatch):
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    with pytest.raises(ValueError, match=match):
        ppo_jax.PPOConfig(**kwargs)
