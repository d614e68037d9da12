"""Probe envs: tiny gymnax envs whose right answer is known, to test what a policy can learn.

`CueMemoryEnv`, the memory probe: a cue at the first step says which of two
actions pays `delay` steps later.

Observation [3]: (cue == 0, cue == 1) at step 0 and zeros after it, plus a
query flag that is 1 at step `delay`. The action at step `delay` earns 1 if it
matches the cue, else 0, and ends the episode; earlier actions earn nothing. A
policy with memory scores 1; one without sees the same observation at the
query whatever the cue was, so it scores 0.5 (chance) at best. The tests and
`scripts/memory_table.py` (the `CueMemory-k10` rows) train on it.

Examples:
  >>> import jax
  >>> env = CueMemoryEnv(delay=3)
  >>> obs, state = env.reset(jax.random.key(0), env.default_params)
  >>> obs.shape, int(state.time)
  ((3,), 0)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces

__all__ = ["CueMemoryEnv", "CueParams", "CueState"]


@dataclasses.dataclass(frozen=True)
class CueState(environment.EnvState):
    """time: steps taken this episode (int32 []); cue: which action pays, 0 or 1 (int32 [])."""

    cue: jax.Array


@dataclasses.dataclass(frozen=True)
class CueParams(environment.EnvParams):
    """max_steps_in_episode: the time limit (well past the query, which ends every episode)."""

    max_steps_in_episode: int = 1000


# Pytrees by their fields (gymnax's base classes are pytrees; a subclass must register itself).
jax.tree_util.register_dataclass(CueState, data_fields=["time", "cue"], meta_fields=[])
jax.tree_util.register_dataclass(CueParams, data_fields=["max_steps_in_episode"], meta_fields=[])


class CueMemoryEnv(environment.Environment):
    """The memory probe, with the cue `delay` steps before the query.

    Args:
      delay: steps from the cue (step 0) to the query (k); every episode lasts
        delay + 1 steps.
    """

    def __init__(self, delay: int = 10):
        super().__init__()
        self.delay = delay

    @property
    def default_params(self) -> CueParams:
        """`CueParams()`: a time limit of 1000 steps (past the query, which ends the episode, for delay < 999)."""
        return CueParams()

    def get_obs(self, state: CueState, params=None, key=None) -> jax.Array:
        cue = jax.nn.one_hot(state.cue, 2) * (state.time == 0)
        query = (state.time == self.delay).astype(jnp.float32)
        return jnp.concatenate([cue, query[None]]).astype(jnp.float32)

    def step_env(self, key, state, action, params):
        at_query = state.time == self.delay
        reward = jnp.where(at_query & (action == state.cue), 1.0, 0.0)
        next_state = dataclasses.replace(state, time=state.time + 1)
        return self.get_obs(next_state), next_state, reward, at_query, {}

    def reset_env(self, key, params):
        state = CueState(time=jnp.zeros((), jnp.int32),
                         cue=jax.random.bernoulli(key).astype(jnp.int32))
        return self.get_obs(state), state

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (3,), jnp.float32)

    def action_space(self, params) -> spaces.Discrete:
        return spaces.Discrete(2)

    @property
    def num_actions(self) -> int:
        """2: one action per cue value."""
        return 2
