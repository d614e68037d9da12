"""`any_member`: unbatched under (nested) vmap, so a `lax.cond` on it is a real branch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.batching import any_member


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
