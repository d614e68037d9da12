"""The env protocol: what an env hands the rollout (`Env`, `EnvStep`, `EnvSpec`).

Imports nothing from ppo_jax but `envs.layout` (structured observations).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np
from flax import struct

# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import Environment, EnvParams  # noqa: F401

from ppo_jax.envs.layout import ObsLayout


def _is_shape(obs) -> bool:
    """Whether `obs` is a plain shape (a tuple of ints) rather than an example observation."""
    return isinstance(obs, (tuple, list)) and not hasattr(obs, "_fields") and all(
        isinstance(n, (int, np.integer)) for n in obs)


def _observation(obs) -> tuple[tuple, int, ObsLayout | None]:
    """(obs_shape, obs_dim, layout) of a shape or of an example (structured) observation.

    A shape, or an example that is a single array, is one array observation
    (layout None, as before); a pytree example gets an `ObsLayout`.
    """
    if _is_shape(obs):
        shape = tuple(int(n) for n in obs)
        return shape, int(np.prod(shape)), None
    if hasattr(obs, "shape") and hasattr(obs, "dtype") and not isinstance(obs, (dict, tuple, list)):
        shape = tuple(int(n) for n in obs.shape)
        return shape, int(np.prod(shape)), None
    layout = ObsLayout.from_example(obs)
    return (), layout.dim, layout


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What the agent needs to know about an env: observations, actions, the action mask.

    obs_dim: length of the flattened observation.
    obs_shape: shape of one observation before flattening (() for a Discrete
      observation space, which is one-hot encoded, and for a structured one):
      a "cnn" network restores it.
    num_actions: the number of actions of a Discrete action space.
    action_size: the length of a Box action vector.
    action_low, action_high: float32 [action_size] bounds of a Box space.
    action_dims: the sizes of a multi-discrete action's dimensions (n_1, ..., n_D):
      an action is int [D], each entry in [0, n_d).
    obs_layout: for a structured (pytree) observation, where each leaf sits in the
      flat vector (`ppo_jax.envs.layout.ObsLayout`); None for one array.
    action_mask: the key of the observation leaf that marks the legal actions
      (bool or 0/1, shape [num_actions], or [sum(action_dims)] for multi-discrete:
      each dimension's mask in turn); None: every action is always legal.

    Exactly one of num_actions (Discrete), action_size (Box) and action_dims
    (multi-discrete) is set.
    """

    obs_dim: int
    obs_shape: tuple = ()
    num_actions: int | None = None
    action_size: int | None = None
    action_low: Any = None
    action_high: Any = None
    action_dims: tuple | None = None
    obs_layout: ObsLayout | None = None
    action_mask: str | None = None

    def __post_init__(self):
        kinds = [self.num_actions, self.action_size, self.action_dims]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("EnvSpec: give exactly one of num_actions (Discrete), action_size (Box) and "
                             f"action_dims (multi-discrete), got {self.num_actions!r}, "
                             f"{self.action_size!r} and {self.action_dims!r}")
        if self.action_dims is not None and (
                not self.action_dims or any(int(n) < 2 for n in self.action_dims)):
            raise ValueError(f"EnvSpec.action_dims: each dimension needs at least 2 choices, got "
                             f"{self.action_dims!r}")
        if self.action_mask is not None:
            self._check_action_mask()

    def _check_action_mask(self) -> None:
        if not self.discrete:
            raise ValueError("EnvSpec.action_mask: a mask needs Discrete or multi-discrete actions; "
                             "this env's actions are Box")
        if self.obs_layout is None:
            raise ValueError(f"EnvSpec.action_mask {self.action_mask!r}: the mask is a leaf of a "
                             "structured observation; give an example observation (a dict, NamedTuple "
                             "or dataclass holding it) instead of a shape")
        leaves = self.obs_layout.leaves_under(self.action_mask)
        if len(leaves) != 1:
            raise ValueError(f"EnvSpec.action_mask {self.action_mask!r} is not a leaf of the observation; "
                             f"valid: {', '.join(self.obs_layout.keys)}")
        expected = self.num_actions if self.action_dims is None else sum(self.action_dims)
        if leaves[0].size != expected:
            want = (f"[{self.num_actions}] (num_actions)" if self.action_dims is None else
                    f"[{expected}] (sum of action_dims {tuple(self.action_dims)})")
            raise ValueError(f"EnvSpec.action_mask {self.action_mask!r} has shape {list(leaves[0].shape)}; "
                             f"a mask of this env's actions has shape {want}")

    @classmethod
    def discrete_actions(cls, obs_shape, num_actions: int, action_mask: str | None = None) -> EnvSpec:
        """The spec of an env with `num_actions` actions.

        obs_shape: the shape of its (float) observations, or an example observation:
          a pytree (dict, NamedTuple, dataclass) of arrays or `jax.ShapeDtypeStruct`
          for a structured observation.
        action_mask: the key of the observation leaf marking the legal actions
          (bool [num_actions]), if the env has one.
        """
        shape, dim, layout = _observation(obs_shape)
        return cls(obs_dim=dim, obs_shape=shape, num_actions=int(num_actions), obs_layout=layout,
                   action_mask=action_mask)

    @classmethod
    def multi_discrete_actions(cls, obs_shape, action_dims, action_mask: str | None = None) -> EnvSpec:
        """The spec of an env whose action is D discrete choices, of n_1, ..., n_D options.

        obs_shape: as in `discrete_actions`. action_mask: the key of the observation
        leaf marking each dimension's legal choices, concatenated: bool [sum(action_dims)].
        """
        shape, dim, layout = _observation(obs_shape)
        return cls(obs_dim=dim, obs_shape=shape, action_dims=tuple(int(n) for n in action_dims),
                   obs_layout=layout, action_mask=action_mask)

    @classmethod
    def box_actions(cls, obs_shape, low, high) -> EnvSpec:
        """The spec of an env with Box actions in [low, high] (float vectors of the action's
        length); obs_shape as in `discrete_actions`."""
        shape, dim, layout = _observation(obs_shape)
        low = np.asarray(low, np.float32).reshape(-1)
        high = np.asarray(high, np.float32).reshape(-1)
        if low.shape != high.shape or not np.all(low < high):
            raise ValueError(f"EnvSpec.box_actions: need low < high of one shape, got {low} and {high}")
        return cls(obs_dim=dim, obs_shape=shape, action_size=low.size,
                   action_low=low, action_high=high, obs_layout=layout)

    @property
    def discrete(self) -> bool:
        """Whether actions are discrete choices (Discrete or multi-discrete) rather than Box."""
        return self.action_size is None

    @property
    def multi_discrete(self) -> bool:
        """Whether an action is several discrete choices (`action_dims`)."""
        return self.action_dims is not None

    @property
    def policy_dim(self) -> int:
        """Width of the policy head: one logit per action (Discrete), one per choice of every
        dimension (multi-discrete: sum(action_dims)), or one mean per action component (Box)."""
        if self.multi_discrete:
            return sum(self.action_dims)
        return self.num_actions if self.num_actions is not None else self.action_size

    @property
    def policy_shape(self) -> tuple[int, ...]:
        """Shape of the distribution parameters' trailing axes: (A,), or (D, max n_d) for the
        factored logits of a multi-discrete action (`core.distributions`)."""
        if self.multi_discrete:
            return (len(self.action_dims), max(self.action_dims))
        return (self.policy_dim,)

    @property
    def structured(self) -> bool:
        """Whether observations are pytrees (`obs_layout` set) rather than one array."""
        return self.obs_layout is not None

    @property
    def mask_span(self) -> tuple[int, int] | None:
        """(start, stop) of the action mask in the flat observation, or None without a mask."""
        if self.action_mask is None:
            return None
        leaf = self.obs_layout.leaves_under(self.action_mask)[0]
        return leaf.offset, leaf.offset + leaf.size


@struct.dataclass
class LogState:
    """Env state plus the running return and length of the current episode.

    Shapes (per env): episode_return [], episode_length [].
    """

    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


@struct.dataclass
class StepResult:
    """One env step, flattened. Shapes for a single env (vmap adds [B]).

    obs: float32 [obs_dim], the next observation (after auto-reset).
    final_obs: float32 [obs_dim], the observation the step reached (before reset).
    reward: float32 [], terminated / truncated: bool [].
    episode_return / episode_length: the finished episode's totals where
      terminated | truncated, else 0.
    """

    obs: jax.Array
    state: LogState
    final_obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


@struct.dataclass
class EnvStep:
    """What an `Env` protocol env's `step` returns, for one env (vmap adds [B]).

    obs: the next observation: the first of a new episode where the step ended one.
    state: the env state that goes with `obs` (after the reset where one ended).
    reward: float32 []; terminated, truncated: bool [] (at most one of them True).
    final_obs: the observation the step reached, before any reset: what a
      truncated step bootstraps from.
    """

    obs: jax.Array
    state: Any
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array


@runtime_checkable
class Env(Protocol):
    """The env protocol: what `make_train(config, env=...)` accepts besides a gymnax env.

    One env, pure and jittable (the library vmaps it over `num_envs`):

    - `spec`: an `EnvSpec` (`EnvSpec.discrete_actions(obs_shape, n)`,
      `EnvSpec.multi_discrete_actions(obs_shape, dims)` or
      `EnvSpec.box_actions(obs_shape, low, high)`; an example observation in place
      of `obs_shape` declares a structured one, and `action_mask=` names its mask leaf).
    - `reset(key) -> (obs, state)`: obs float [*spec.obs_shape], or a pytree
      shaped like the spec's example observation.
    - optional `max_episode_steps`: its time limit in steps (evaluation
      inside training stops episodes there; default 10,000).
    - `step(key, state, action) -> EnvStep`: action int [] (Discrete) or
      float [action_size] in [low, high], or int [D] (multi-discrete). The env ends episodes itself, both
      ways: `terminated` (a terminal state: no bootstrap) and `truncated`
      (a time limit: the value target bootstraps from V(`final_obs`)), and
      resets itself when either is True, using `key`.
    """

    spec: EnvSpec

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """Starts an episode: (obs float [*spec.obs_shape], the env's state)."""
        ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> EnvStep:
        """One step of one env: action int [] (Discrete) or float [action_size] in [low, high].

        Ends episodes itself (`terminated` or `truncated`) and, where one ended,
        resets itself using `key`; see `EnvStep` for what it returns.
        """
        ...
