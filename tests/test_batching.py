"""`ppo_jax.util.batching`: `any_member` stays unbatched under (nested) vmap, so a `lax.cond` on
it is a real branch; `sparse_reset` resets only the envs that ended, with the same result
as resetting every env and selecting."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.util.batching import any_member, reset_pool_size, sparse_reset


def add_one_if_any(flag, x):
    return jax.lax.cond(any_member(flag), lambda: x + 1.0, lambda: x)


def test_outside_vmap_it_is_the_flag():
    assert bool(any_member(jnp.bool_(True))) and not bool(any_member(jnp.bool_(False)))
    assert float(add_one_if_any(jnp.bool_(False), jnp.float32(2.0))) == 2.0


def test_under_nested_vmap_the_branch_is_taken_for_all_when_any_member_needs_it():
    f = jax.jit(jax.vmap(jax.vmap(add_one_if_any)))  # [population, envs]
    x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    none = jnp.zeros((2, 3), bool)
    one = none.at[1, 2].set(True)
    np.testing.assert_array_equal(f(none, x), x)
    np.testing.assert_array_equal(f(one, x), x + 1.0)  # every member, not just [1, 2]


def test_the_vmapped_cond_stays_a_cond_not_a_select():
    jaxpr = str(jax.make_jaxpr(jax.vmap(jax.vmap(add_one_if_any)))(jnp.zeros((2, 3), bool),
                                                                   jnp.zeros((2, 3))))
    assert "cond[" in jaxpr and "select_n" not in jaxpr
    # the batched-predicate cond it replaces is a select
    plain = str(jax.make_jaxpr(jax.vmap(lambda f, x: jax.lax.cond(f, lambda: x + 1.0, lambda: x)))(
        jnp.zeros(3, bool), jnp.zeros(3)))
    assert "select_n" in plain


def fake_reset(key):
    """A reset with an obs and a two-leaf state, all from the key."""
    obs = jax.random.normal(key, (3,))
    return obs, {"position": jax.random.randint(key, (2,), 0, 100), "time": jnp.int32(0)}


@pytest.mark.parametrize("num_ended", [0, 1, 2, 3, 16])
def test_sparse_reset_equals_resetting_every_env_and_selecting(num_ended):
    """Under vmap over agents of vmap over 16 envs (a pool of 2), for 0 ended envs, some
    within the pool, some beyond it, all: the same as reset(key) selected where ended."""
    num_agents, num_envs = 3, 16
    assert reset_pool_size(num_envs) == 2
    reset_where = sparse_reset(fake_reset)
    rng = np.random.default_rng(num_ended)
    ended = np.zeros((num_agents, num_envs), bool)
    ended[0, rng.choice(num_envs, num_ended, replace=False)] = True  # agent 0 only
    ended[2, 5] = num_ended > 0  # and one env of agent 2
    keys = jax.random.split(jax.random.PRNGKey(num_ended), num_agents * num_envs).reshape(num_agents, num_envs, -1)
    obs = jnp.full((num_agents, num_envs, 3), -1.0)
    state = {"position": jnp.full((num_agents, num_envs, 2), -7), "time": jnp.full((num_agents, num_envs), 9)}

    new_obs, new_state = jax.jit(jax.vmap(jax.vmap(reset_where)))(jnp.asarray(ended), keys, obs, state)

    fresh_obs, fresh_state = jax.vmap(jax.vmap(fake_reset))(keys)
    np.testing.assert_array_equal(new_obs, np.where(ended[..., None], fresh_obs, obs))
    np.testing.assert_array_equal(new_state["position"], np.where(ended[..., None], fresh_state["position"], -7))
    np.testing.assert_array_equal(new_state["time"], np.where(ended, 0, 9))
    # and one env, outside vmap
    single = reset_where(jnp.bool_(True), keys[0, 0], obs[0, 0], jax.tree.map(lambda x: x[0, 0], state))
    np.testing.assert_array_equal(single[0], fresh_obs[0, 0])


def test_sparse_reset_broadcasts_unbatched_inputs():
    """A state leaf or obs that is the same for every env (not batched) still works."""
    reset_where = sparse_reset(fake_reset)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    ended = jnp.array([True, False, False, False])
    obs, state = jnp.zeros(3), {"position": jnp.zeros(2, jnp.int32), "time": jnp.int32(5)}
    new_obs, new_state = jax.vmap(reset_where, in_axes=(0, 0, None, None))(ended, keys, obs, state)
    np.testing.assert_array_equal(new_obs[0], fake_reset(keys[0])[0])
    np.testing.assert_array_equal(new_obs[1:], 0.0)
    np.testing.assert_array_equal(new_state["time"], [0, 5, 5, 5])


def test_sparse_reset_resets_only_what_it_must():
    """Counted at run time: no reset when nothing ended; the pool (2 per agent) when one
    env ended; every env when one agent has more ended envs than the pool."""
    calls = []

    def counted_reset(key):
        # under vmap the callback gets the batch at once: count its keys
        jax.debug.callback(lambda k: calls.append(np.asarray(k).size // 2), key)
        return fake_reset(key)

    reset_where = jax.jit(jax.vmap(jax.vmap(sparse_reset(counted_reset))))
    num_agents, num_envs = 3, 16
    keys = jax.random.split(jax.random.PRNGKey(0), num_agents * num_envs).reshape(num_agents, num_envs, -1)
    obs = jnp.zeros((num_agents, num_envs, 3))
    state = {"position": jnp.zeros((num_agents, num_envs, 2), jnp.int32),
             "time": jnp.zeros((num_agents, num_envs), jnp.int32)}
    counts = []
    for ended_envs in ([], [3], [3, 4, 5]):
        ended = jnp.zeros((num_agents, num_envs), bool).at[1, jnp.array(ended_envs, int)].set(True)
        calls.clear()
        jax.block_until_ready(reset_where(ended, keys, obs, state))
        jax.effects_barrier()
        counts.append(sum(calls))
    assert counts == [0, num_agents * 2, num_agents * num_envs], counts
