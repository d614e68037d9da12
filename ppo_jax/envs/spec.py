"""The env protocol: what an env hands the rollout (`Env`, `EnvStep`, `EnvSpec`). A leaf module."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np
from flax import struct

# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import Environment, EnvParams  # noqa: F401


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What the agent needs to know about an env: shapes and action bounds.

    obs_dim: length of the flattened observation.
    obs_shape: shape of one observation before flattening (() for a Discrete
      observation space, which is one-hot encoded): a "cnn" network restores it.
    num_actions: the number of actions of a Discrete action space (None for Box).
    action_size: the length of a Box action vector (None for Discrete).
    action_low, action_high: float32 [action_size] bounds of a Box space.
    """

    obs_dim: int
    obs_shape: tuple = ()
    num_actions: int | None = None
    action_size: int | None = None
    action_low: Any = None
    action_high: Any = None

    def __post_init__(self):
        if (self.num_actions is None) == (self.action_size is None):
            raise ValueError("EnvSpec: give exactly one of num_actions (Discrete) and "
                             f"action_size (Box), got {self.num_actions!r} and {self.action_size!r}")

    @classmethod
    def discrete_actions(cls, obs_shape: tuple, num_actions: int) -> EnvSpec:
        """The spec of an env with float observations of `obs_shape` and `num_actions` actions."""
        obs_shape = tuple(int(n) for n in obs_shape)
        return cls(obs_dim=int(np.prod(obs_shape)), obs_shape=obs_shape, num_actions=int(num_actions))

    @classmethod
    def box_actions(cls, obs_shape: tuple, low, high) -> EnvSpec:
        """The spec of an env with float observations of `obs_shape` and Box actions in
        [low, high] (float vectors of the action's length)."""
        obs_shape = tuple(int(n) for n in obs_shape)
        low = np.asarray(low, np.float32).reshape(-1)
        high = np.asarray(high, np.float32).reshape(-1)
        if low.shape != high.shape or not np.all(low < high):
            raise ValueError(f"EnvSpec.box_actions: need low < high of one shape, got {low} and {high}")
        return cls(obs_dim=int(np.prod(obs_shape)), obs_shape=obs_shape, action_size=low.size,
                   action_low=low, action_high=high)

    @property
    def discrete(self) -> bool:
        """Whether the action space is Discrete (`num_actions` set) rather than Box."""
        return self.num_actions is not None

    @property
    def policy_dim(self) -> int:
        """Width of the policy head: one logit per action, or one mean per action component."""
        return self.num_actions if self.discrete else self.action_size


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

    - `spec`: an `EnvSpec` (`EnvSpec.discrete_actions(obs_shape, n)` or
      `EnvSpec.box_actions(obs_shape, low, high)`).
    - `reset(key) -> (obs, state)`: obs float [*spec.obs_shape].
    - optional `max_episode_steps`: its time limit in steps (evaluation
      inside training stops episodes there; default 10,000).
    - `step(key, state, action) -> EnvStep`: action int [] (Discrete) or
      float [action_size] in [low, high]. The env ends episodes itself, both
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
