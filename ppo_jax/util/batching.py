"""Predicates and resets that see the whole vmapped batch, for real branches under `vmap`.

Under `vmap`, a `lax.cond` whose predicate is batched becomes a select that
computes both branches for every member. The helpers here are `custom_vmap`
functions whose batching rules look at the whole batch instead:

- `any_member(flag)` / `max_member(value)` reduce over every enclosing vmapped
  axis (the population of agents, the envs of one agent), so a `lax.cond` or
  `lax.switch` on them runs a costly branch only when some member needs it.
- `sparse_reset(reset)` builds `reset_where(ended, key, obs, state)`, which
  resets only the envs that ended, for envs whose reset costs far more than a
  step (Craftax generates a world).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


@custom_vmap
def any_member(flag: jax.Array) -> jax.Array:
    """bool [] -> bool []: True if `flag` holds for any member of the enclosing vmaps.

    Outside `vmap` it is `flag` itself. Under `vmap` the result is not
    batched, so a `lax.cond` on it stays a real branch; the branch taken must
    then be right for every member (a member that did not need it selects its
    own value afterwards).
    """
    return flag


@any_member.def_vmap
def _any_member_vmap(axis_size, in_batched, flag):
    return any_member(jnp.any(flag, axis=0) if in_batched[0] else flag), False


@custom_vmap
def max_member(value: jax.Array) -> jax.Array:
    """int32 [] -> int32 []: the largest `value` over the members of the enclosing vmaps
    (unbatched, for a `lax.switch` index: the costliest branch any member needs)."""
    return value


@max_member.def_vmap
def _max_member_vmap(axis_size, in_batched, value):
    return max_member(jnp.max(value, axis=0) if in_batched[0] else value), False


ResetFn = Callable[[jax.Array], tuple[jax.Array, Any]]
NO_RESET, POOLED_RESET, FULL_RESET = 0, 1, 2


def reset_pool_size(num_envs: int) -> int:
    """How many envs of a batch of `num_envs` a pooled reset serves at one step."""
    return max(2, num_envs // 16)


def sparse_reset(reset: ResetFn) -> Callable[[jax.Array, jax.Array, jax.Array, Any], tuple[jax.Array, Any]]:
    """`reset(key) -> (obs, state)` for one env -> `reset_where(ended, key, obs, state)`.

    `reset_where` returns `reset(key)` where `ended` (bool []), else `(obs,
    state)` unchanged: per env what `jnp.where(ended, reset(key), (obs, state))`
    gives, with each env's own key, but without paying for the resets of the
    envs that did not end. (Only up to floating-point rounding inside `reset`:
    XLA may round a computation vmapped over the pool differently from the
    same one vmapped over all B envs.) Under `vmap` over B envs it resets, at
    each call:

    - nothing, if no env of the batch (of any enclosing vmap) ended;
    - else the first `reset_pool_size(B)` ended envs of each batch (gathered by
      index, reset, scattered back), if that covers every ended env;
    - else all B, selected where ended (what resetting at every step costs).

    With episodes of hundreds of steps, most steps take the first branch and
    almost all the others the second.
    """

    @custom_vmap
    def reset_where(ended, key, obs, state):
        return jax.lax.cond(ended, lambda: reset(key), lambda: (obs, state))

    @reset_where.def_vmap
    def _batched(axis_size, in_batched, ended, key, obs, state):
        def full(x, batched):
            return x if batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

        ended_b, key_b, obs_b, state_b = in_batched
        ended, key, obs = full(ended, ended_b), full(key, key_b), full(obs, obs_b)
        state = jax.tree.map(full, state, state_b)
        pool = reset_pool_size(axis_size)

        def no_reset():
            return obs, state

        def pooled_reset():
            index = jnp.nonzero(ended, size=pool, fill_value=axis_size)[0]  # axis_size: unused slot
            fresh_obs, fresh_state = jax.vmap(reset)(key[jnp.minimum(index, axis_size - 1)])

            def put(current, fresh):
                return current.at[index].set(fresh.astype(current.dtype), mode="drop")

            return put(obs, fresh_obs), jax.tree.map(put, state, fresh_state)

        def full_reset():
            fresh_obs, fresh_state = jax.vmap(reset)(key)

            def pick(fresh, current):
                where = ended.reshape(ended.shape + (1,) * (current.ndim - 1))
                return jnp.where(where, fresh, current).astype(current.dtype)

            return pick(fresh_obs, obs), jax.tree.map(pick, fresh_state, state)

        count = ended.sum()
        needed = jnp.where(count == 0, NO_RESET, jnp.where(count <= pool, POOLED_RESET, FULL_RESET))
        out = jax.lax.switch(max_member(needed.astype(jnp.int32)), [no_reset, pooled_reset, full_reset])
        return out, (True, jax.tree.map(lambda _: True, state))

    return reset_where
