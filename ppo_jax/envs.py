"""The one gymnax adapter: flat float observations, clipped actions, episode logs.

Everything that touches the gymnax step API lives here. gymnax >= 1.0:
`step` returns `(obs, state, reward, terminated, truncated, info)` with
`info["final_observation"]` the observation before any auto-reset.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces
# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import EnvParams, Environment  # noqa: F401


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

    @property
    def discrete(self) -> bool:
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


def _space_is_supported(space) -> bool:
    return isinstance(space, (spaces.Discrete, spaces.Box))


class GymnaxAdapter:
    """Wraps a gymnax `Environment`: flatten obs, clip Box actions, log episodes.

    Discrete observation spaces are one-hot encoded; Box observations are
    flattened to float32 vectors (MinAtar images included).
    """

    def __init__(self, env, env_params, env_name: str | None = None):
        self.env = env
        self.env_params = env_params
        # How states record their env: the gymnax id, or a user-supplied instance's class name.
        self.custom = env_name is None
        self.env_name = type(env).__name__ if env_name is None else env_name
        obs_space = env.observation_space(env_params)
        act_space = env.action_space(env_params)
        if not _space_is_supported(obs_space) or not _space_is_supported(act_space):
            raise ValueError(
                f"env {env.name!r}: only Discrete and Box spaces are supported, got observation "
                f"space {type(obs_space).__name__} and action space {type(act_space).__name__}"
            )
        self._obs_space = obs_space
        if isinstance(obs_space, spaces.Discrete):
            obs_dim = int(obs_space.n)
        else:
            obs_dim = int(np.prod(obs_space.shape))
        if isinstance(act_space, spaces.Discrete):
            self.spec = EnvSpec(obs_dim=obs_dim, obs_shape=self.obs_shape, num_actions=int(act_space.n))
        else:
            shape = tuple(act_space.shape) or (1,)
            dim = int(np.prod(shape))
            low = np.broadcast_to(np.asarray(act_space.low, np.float32), shape).reshape(dim)
            high = np.broadcast_to(np.asarray(act_space.high, np.float32), shape).reshape(dim)
            self.spec = EnvSpec(obs_dim=obs_dim, obs_shape=self.obs_shape, action_size=dim,
                                action_low=low, action_high=high)
        self._action_shape = tuple(act_space.shape)

    @property
    def obs_shape(self) -> tuple:
        """The shape of one raw observation (() for a Discrete observation space)."""
        return tuple(getattr(self._obs_space, "shape", None) or ())

    def batch_shape(self, obs, where: str) -> tuple:
        """The leading (batch) axes of raw observations `obs`: () for a single one.

        Raises ValueError when `obs` does not end in the observation shape.
        """
        shape, single = tuple(jnp.shape(obs)), self.obs_shape
        if len(shape) < len(single) or shape[len(shape) - len(single):] != single:
            raise ValueError(
                f"{where}: an observation of {self.env_name} has shape {single}, so obs must have "
                f"shape {single} or [batch, ...] + {single}; got {shape}"
            )
        return shape[:len(shape) - len(single)]

    def flatten_obs(self, obs) -> jax.Array:
        """Raw gymnax observation -> float32 [obs_dim]."""
        if isinstance(self._obs_space, spaces.Discrete):
            return jax.nn.one_hot(obs, self.spec.obs_dim, dtype=jnp.float32)
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    def env_action(self, action: jax.Array) -> jax.Array:
        """Policy action -> the action the env is stepped with (Box: clipped)."""
        if self.spec.discrete:
            return action
        clipped = jnp.clip(action, self.spec.action_low, self.spec.action_high)
        return jnp.reshape(clipped, self._action_shape)

    def reset(self, key: jax.Array) -> tuple[jax.Array, LogState]:
        obs, env_state = self.env.reset(key, self.env_params)
        zero = jnp.zeros((), jnp.float32)
        return self.flatten_obs(obs), LogState(env_state, zero, jnp.zeros((), jnp.int32))

    def step(self, key: jax.Array, state: LogState, action: jax.Array) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, self.env_action(action), self.env_params
        )
        reward = jnp.asarray(reward, jnp.float32)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(truncated, bool)
        done = terminated | truncated
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        new_state = LogState(
            env_state,
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return StepResult(
            obs=self.flatten_obs(obs),
            state=new_state,
            final_obs=self.flatten_obs(info["final_observation"]),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            episode_return=jnp.where(done, episode_return, 0.0),
            episode_length=jnp.where(done, episode_length, 0),
        )


def make_env(env_id: str, env=None, env_params=None) -> GymnaxAdapter:
    """The adapter for `env` (a gymnax Environment) or, if None, for `env_id`."""
    if env is None:
        env, default_params = gymnax.make(env_id)
        name = env_id
    else:
        default_params, name = env.default_params, None  # user-supplied: named by its class
    return GymnaxAdapter(env, default_params if env_params is None else env_params, name)
