"""Env adapters: flat float observations, actions mapped to the env, episode logs.

The rollout steps an *adapter* (`reset`, `step` -> `StepResult`, `spec`). Two
kinds:

- `GymnaxAdapter`, for gymnax's `Environment` interface (the default suite).
  gymnax >= 1.0: `step` returns `(obs, state, reward, terminated, truncated,
  info)` with `info["final_observation"]` the observation before the auto-reset.
- `ProtocolAdapter`, for any env that follows the `Env` protocol below: the
  other suites (`ppo_jax.envs.suites`: Brax, ...) and a user's own env object.

Box actions: the policy acts in [-1, 1] per component; the adapter clips its
sample to [-1, 1] and maps it affinely onto the env's bounds [low, high]
(`EnvSpec.action_low/high`). The rollout stores the unclipped sample and its
log-probability, so the ratio is taken on what the policy drew.
"""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import Environment, EnvParams  # noqa: F401

from ppo_jax.envs.masked import MASKED_ENVS, MaskedObservation
from ppo_jax.envs.spec import Env, EnvSpec, LogState, StepResult
from ppo_jax.envs.suites import make_suite_env


def _space_is_supported(space) -> bool:
    return isinstance(space, (spaces.Discrete, spaces.Box))


def strong_types(tree):
    """`tree` with its weakly typed leaves (from Python scalars in an env's code) made strong.

    Applied to the env state after reset and after every step: a leaf weak after one and
    strong after the other (a step mixes it with strong values) would change the state's
    types, and a jitted step would compile a second time.
    """
    return jax.tree.map(lambda x: x.astype(x.dtype) if getattr(x, "weak_type", False) else x, tree)


class _Adapter:
    """What every adapter shares: the batch-shape check, the action mapping, episode logs.

    Subclasses set env_name, custom, spec and implement flatten_obs, reset and step.
    """

    env_name: str
    custom: bool
    spec: EnvSpec
    _action_shape: tuple = ()  # the env's own shape of a Box action

    @property
    def obs_shape(self) -> tuple:
        """The shape of one raw observation (() for a Discrete observation space)."""
        return tuple(self.spec.obs_shape)

    def batch_shape(self, obs, where: str) -> tuple:
        """The leading (batch) axes of raw observations `obs`: () for a single one.

        Raises ValueError when `obs` does not end in the observation shape (a structured
        observation: when it is not the env's pytree, leaves [*batch, *leaf shape]).
        """
        layout = self.spec.obs_layout
        if layout is not None:
            batch = layout.batch_shape(obs)
            if batch is None:
                leaves = ", ".join(f"{leaf.key} {list(leaf.shape)}" for leaf in layout.leaves)
                raise ValueError(
                    f"{where}: an observation of {self.env_name} is a {layout.treedef} with leaves "
                    f"{leaves} (a batch: [batch, ...] + each leaf's shape); got "
                    f"{jax.tree.map(jnp.shape, obs)}")
            return batch
        shape, single = tuple(jnp.shape(obs)), self.obs_shape
        if len(shape) < len(single) or shape[len(shape) - len(single):] != single:
            raise ValueError(
                f"{where}: an observation of {self.env_name} has shape {single}, so obs must have "
                f"shape {single} or [batch, ...] + {single}; got {shape}"
            )
        return shape[:len(shape) - len(single)]

    def env_action(self, action: jax.Array) -> jax.Array:
        """Policy action -> the action the env is stepped with.

        Discrete and multi-discrete: unchanged. Box: the policy acts in [-1, 1]; clipped there, then
        mapped affinely onto [action_low, action_high] (and the env's action shape).
        """
        if self.spec.discrete:
            return action
        low, high = self.spec.action_low, self.spec.action_high
        unit = jnp.clip(action, -1.0, 1.0)
        return jnp.reshape(low + 0.5 * (unit + 1.0) * (high - low), self._action_shape)

    def _logged(self, state: LogState, env_state, obs, final_obs, reward, terminated,
                truncated) -> StepResult:
        """A StepResult with the episode's running return/length updated and reported."""
        reward = jnp.asarray(reward, jnp.float32)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(truncated, bool)
        done = terminated | truncated
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        new_state = LogState(
            strong_types(env_state),
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return StepResult(
            obs=self.flatten_obs(obs),
            state=new_state,
            final_obs=self.flatten_obs(final_obs),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            episode_return=jnp.where(done, episode_return, 0.0),
            episode_length=jnp.where(done, episode_length, 0),
        )

    def _initial(self, obs, env_state) -> tuple[jax.Array, LogState]:
        zero = jnp.zeros((), jnp.float32)
        return self.flatten_obs(obs), LogState(strong_types(env_state), zero, jnp.zeros((), jnp.int32))


class ProtocolAdapter(_Adapter):
    """Wraps an `Env` protocol env: flat float32 observations, actions mapped, episodes logged."""

    def __init__(self, env: Env, env_name: str | None = None):
        if not isinstance(env, Env) or not isinstance(getattr(env, "spec", None), EnvSpec):
            raise TypeError(
                f"env={type(env).__name__} is neither a gymnax Environment nor a ppo_jax.envs.Env: "
                "an env needs `spec` (an EnvSpec), `reset(key) -> (obs, state)` and "
                "`step(key, state, action) -> EnvStep` (see the docs' guide 'Env suites and your own env', "
                "section 'The env protocol')")
        self.env = env
        self.custom = env_name is None
        self.env_name = type(env).__name__ if env_name is None else env_name
        self.spec = env.spec
        self._action_shape = (() if env.spec.discrete else (env.spec.action_size,))
        if env.spec.multi_discrete:
            self._action_shape = (len(env.spec.action_dims),)

    def flatten_obs(self, obs) -> jax.Array:
        """Raw observation [*spec.obs_shape] -> float32 [obs_dim] (flattened, never one-hot);
        a structured one: each leaf raveled and concatenated (`EnvSpec.obs_layout`). Leading
        batch axes are kept for a structured observation."""
        if self.spec.obs_layout is not None:
            return self.spec.obs_layout.flatten(obs)
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    @property
    def max_episode_steps(self):
        """The env's time limit in steps, if it states one (`Env.max_episode_steps`), else None."""
        return getattr(self.env, "max_episode_steps", None)

    def reset(self, key: jax.Array) -> tuple[jax.Array, LogState]:
        """Starts an episode of one env.

        Args:
          key: the env's reset key.

        Returns:
          (the flat observation float32 [obs_dim]; a `LogState` holding the env's state and a
          zero episode return and length).
        """
        return self._initial(*self.env.reset(key))

    def step(self, key: jax.Array, state: LogState, action: jax.Array) -> StepResult:
        """Steps one env with the policy's action (mapped by `env_action`) and logs its episode.

        Args:
          key: the step's key (the env uses it to reset itself where the episode ends).
          state: the `LogState` from `reset` or the previous step.
          action: the policy's action: int [] (Discrete) or float32 [action_size] (Box,
            the policy's unclipped sample).

        Returns:
          A `StepResult`: flat observations, the env's `terminated` and `truncated`, and the
          episode's return and length where it ended.
        """
        out = self.env.step(key, state.env_state, self.env_action(action))
        return self._logged(state, out.state, out.obs, out.final_obs, out.reward, out.terminated,
                            out.truncated)


class GymnaxAdapter(_Adapter):
    """Wraps a gymnax `Environment`: flatten obs, map Box actions, log episodes.

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
        obs_shape = tuple(getattr(obs_space, "shape", None) or ())
        if isinstance(act_space, spaces.Discrete):
            self.spec = EnvSpec(obs_dim=obs_dim, obs_shape=obs_shape, num_actions=int(act_space.n))
        else:
            shape = tuple(act_space.shape) or (1,)
            dim = int(np.prod(shape))
            low = np.broadcast_to(np.asarray(act_space.low, np.float32), shape).reshape(dim)
            high = np.broadcast_to(np.asarray(act_space.high, np.float32), shape).reshape(dim)
            self.spec = EnvSpec(obs_dim=obs_dim, obs_shape=obs_shape, action_size=dim,
                                action_low=low, action_high=high)
        self._action_shape = tuple(act_space.shape)

    def flatten_obs(self, obs) -> jax.Array:
        """Raw gymnax observation -> float32 [obs_dim]."""
        if isinstance(self._obs_space, spaces.Discrete):
            return jax.nn.one_hot(obs, self.spec.obs_dim, dtype=jnp.float32)
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    @property
    def max_episode_steps(self):
        """gymnax's time limit, `max_steps_in_episode` (None if the params name none)."""
        return getattr(self.env_params, "max_steps_in_episode", None)

    def reset(self, key: jax.Array) -> tuple[jax.Array, LogState]:
        """As `ProtocolAdapter.reset`, through gymnax's `reset(key, env_params)`."""
        return self._initial(*self.env.reset(key, self.env_params))

    def step(self, key: jax.Array, state: LogState, action: jax.Array) -> StepResult:
        """As `ProtocolAdapter.step`, through gymnax's auto-resetting `step(key, state, action,
        env_params)`; the final observation is its `info["final_observation"]`."""
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, self.env_action(action), self.env_params
        )
        return self._logged(state, env_state, obs, info["final_observation"], reward, terminated,
                            truncated)


Adapter = GymnaxAdapter | ProtocolAdapter


def make_env(env_id: str, env=None, env_params=None, env_options: tuple = ()) -> Adapter:
    """The adapter for `env` (a gymnax Environment or an `Env`) or, if None, for `env_id`.

    `env_id`: a gymnax id, or `<suite>/<name>` for another suite (`ppo_jax.envs.suites`),
    built with `env_options` (the config's `env_options`).
    """
    if env is None:
        if "/" in env_id:

            return ProtocolAdapter(make_suite_env(env_id, dict(env_options)), env_name=env_id)
        base_id, keep = MASKED_ENVS.get(env_id, (env_id, None))
        env, default_params = gymnax.make(base_id)
        if keep is not None:
            env = MaskedObservation(env, keep)
        return GymnaxAdapter(env, default_params if env_params is None else env_params, env_id)
    if isinstance(env, Environment):  # user-supplied: named by its class
        return GymnaxAdapter(env, env.default_params if env_params is None else env_params, None)
    return ProtocolAdapter(env)
