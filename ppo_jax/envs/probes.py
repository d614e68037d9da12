"""Probe envs: tiny envs whose right answer is known, to test what a policy can learn.

The protocol's second round has one probe each (one-step episodes under the
`ppo_jax.envs.Env` protocol: a context is drawn at reset, the action is paid
and the episode terminates):

- `MaskedBanditEnv` (action masks): the best-paying action is illegal in half
  the states; the agent must never take it there and pick the best legal one.
- `MultiDiscreteTargetEnv` (multi-discrete actions): two targets, one per
  action dimension, each paying for a match.
- `DictSumEnv` (structured observations): the paying action depends on two
  leaves of a dict observation together.
- `PrivilegedValueEnv` (a privileged critic): the reward is drawn at reset and
  shown only in the observation's "privileged_state"; only a critic that reads
  it can predict the value.

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

from ppo_jax.envs.spec import EnvSpec, EnvStep

__all__ = ["CueMemoryEnv", "CueParams", "CueState", "DictSumEnv", "MaskedBanditEnv",
           "MultiDiscreteTargetEnv", "PrivilegedValueEnv"]


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


# --- one-step probes of the env protocol's second round ------------------------------


class _OneStepEnv:
    """One-step episodes: `reset` draws a context (int32 []), `step` pays `reward(context,
    action)`, terminates and resets with its key. Subclasses set `spec` and define
    `_draw(key)`, `_observe(context)` and `_reward(context, action)`."""

    max_episode_steps = 1

    def reset(self, key):
        """(observation, context) of a new one-step episode."""
        context = self._draw(key)
        return self._observe(context), context

    def step(self, key, state, action):
        """Pays the action in context `state`, terminates, and starts the next episode with `key`."""
        next_obs, next_state = self.reset(key)
        return EnvStep(obs=next_obs, state=next_state, reward=self._reward(state, action),
                       terminated=jnp.asarray(True), truncated=jnp.asarray(False),
                       final_obs=self._observe(state))


class MaskedBanditEnv(_OneStepEnv):
    """4 actions; the context c is 0 or 1 (equally likely), shown one-hot in "state".

    Action 3 pays 1 but is illegal when c = 1; action 2 pays 0.5 always; 0 and 1 pay 0.
    So the best legal action is 3 when c = 0 and 2 when c = 1: an optimal agent
    earns 0.75 per episode; one that ignored the mask would try 3 everywhere.
    Observation: {"state": float32 [2], "action_mask": bool [4]}.

    Examples:
      >>> import jax
      >>> obs, c = MaskedBanditEnv().reset(jax.random.key(0))
      >>> sorted(obs), obs["action_mask"].tolist() == [True, True, True, bool(c == 0)]
      (['action_mask', 'state'], True)
    """

    def __init__(self):
        self.spec = EnvSpec.discrete_actions(self._observe(jnp.zeros((), jnp.int32)), 4,
                                             action_mask="action_mask")

    def _draw(self, key):
        return jax.random.bernoulli(key).astype(jnp.int32)

    def _observe(self, context):
        return {"state": jax.nn.one_hot(context, 2, dtype=jnp.float32),
                "action_mask": jnp.array([True, True, True, False]).at[3].set(context == 0)}

    def _reward(self, context, action):
        return jnp.select([action == 3, action == 2], [1.0, 0.5], 0.0).astype(jnp.float32)


class MultiDiscreteTargetEnv(_OneStepEnv):
    """Actions of two dimensions, of 3 and 4 choices. Two targets (t1, t2) are drawn at
    reset and shown one-hot, float32 [7]; the action (a1, a2) pays 0.5 for each a_d = t_d.

    With `masked=True` the observation is {"targets": [7], "action_mask": bool [7]} and
    choice 0 of each dimension is illegal (the targets are then never 0), so a
    per-dimension mask is exercised too.
    """

    action_dims = (3, 4)

    def __init__(self, masked: bool = False):
        self.masked = masked
        example = self._observe(jnp.zeros((2,), jnp.int32) + 1)
        self.spec = EnvSpec.multi_discrete_actions(
            example if masked else example.shape, self.action_dims,
            action_mask="action_mask" if masked else None)

    def _draw(self, key):
        low = 1 if self.masked else 0
        k1, k2 = jax.random.split(key)
        return jnp.stack([jax.random.randint(k1, (), low, 3), jax.random.randint(k2, (), low, 4)])

    def _observe(self, context):
        targets = jnp.concatenate([jax.nn.one_hot(context[0], 3), jax.nn.one_hot(context[1], 4)])
        if not self.masked:
            return targets
        legal = jnp.ones((7,), bool).at[0].set(False).at[3].set(False)
        return {"targets": targets, "action_mask": legal}

    def _reward(self, context, action):
        return 0.5 * jnp.sum(action == context).astype(jnp.float32)


class DictSumEnv(_OneStepEnv):
    """3 actions; two bits i, j drawn at reset, shown one-hot in two leaves of a dict
    observation {"left": float32 [2], "right": float32 [2]}. Action i + j pays 1, others
    0: one leaf alone leaves the other bit a coin flip (0.5 at best), both give 1."""

    def __init__(self):
        self.spec = EnvSpec.discrete_actions(self._observe(jnp.zeros((2,), jnp.int32)), 3)

    def _draw(self, key):
        return jax.random.randint(key, (2,), 0, 2)

    def _observe(self, context):
        return {"left": jax.nn.one_hot(context[0], 2), "right": jax.nn.one_hot(context[1], 2)}

    def _reward(self, context, action):
        return (action == context[0] + context[1]).astype(jnp.float32)


class PrivilegedValueEnv(_OneStepEnv):
    """2 actions that pay the same; the reward r is -1 or +1 (equally likely), drawn at reset.

    Observation {"state": float32 [2] (constant ones: nothing to see),
    "privileged_state": float32 [1] (r)}. V(s) = r: a critic reading
    "privileged_state" can predict it exactly, one reading "state" at best its mean
    (squared error 1).
    """

    def __init__(self):
        self.spec = EnvSpec.discrete_actions(self._observe(jnp.zeros((), jnp.float32)), 2)

    def _draw(self, key):
        return jnp.where(jax.random.bernoulli(key), 1.0, -1.0).astype(jnp.float32)

    def _observe(self, context):
        return {"state": jnp.ones((2,), jnp.float32), "privileged_state": context[None]}

    def _reward(self, context, action):
        return context
