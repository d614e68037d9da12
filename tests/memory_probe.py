"""A memory probe: a cue at the first step says which of two actions pays k steps later.

Observation [3]: (cue == 0, cue == 1) at step 0 and zeros after it, plus a
query flag that is 1 at step k. The action at step k earns 1 if it matches the
cue, else 0, and ends the episode; earlier actions earn nothing. A policy with
memory scores 1; one without sees the same observation at step k whatever the
cue was, so it scores 0.5 (chance) at best.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class CueState(environment.EnvState):
    cue: jax.Array  # int32 [], 0 or 1


@struct.dataclass
class CueParams(environment.EnvParams):
    max_steps_in_episode: int = 1000


class CueMemoryEnv(environment.Environment):
    """The probe with the cue `delay` steps before the query (k = delay)."""

    def __init__(self, delay: int = 10):
        super().__init__()
        self.delay = delay

    @property
    def default_params(self) -> CueParams:
        return CueParams()

    def get_obs(self, state: CueState, params=None, key=None) -> jax.Array:
        cue = jax.nn.one_hot(state.cue, 2) * (state.time == 0)
        query = (state.time == self.delay).astype(jnp.float32)
        return jnp.concatenate([cue, query[None]]).astype(jnp.float32)

    def step_env(self, key, state, action, params):
        at_query = state.time == self.delay
        reward = jnp.where(at_query & (action == state.cue), 1.0, 0.0)
        next_state = state.replace(time=state.time + 1)
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
        return 2
