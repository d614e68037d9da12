"""`any_member`: a predicate that stays unbatched under `jax.vmap`, for real branches.

Under `vmap`, a `lax.cond` whose predicate is batched becomes a select that
computes both branches for every member. `any_member(flag)` reduces `flag`
over every enclosing vmapped axis instead (the population of agents, the
envs of one agent), so a `lax.cond` on it runs the costly branch only when at
least one member needs it, and skips it for all otherwise.
"""

from __future__ import annotations

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
