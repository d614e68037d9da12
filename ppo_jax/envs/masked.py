"""Masked variants of gymnax envs: part of the observation hidden (a memory test)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

# The types of the public API's `env=` / `env_params=` arguments (any gymnax env).
from gymnax.environments.environment import Environment, EnvParams  # noqa: F401


class MaskedObservation(Environment):
    """A gymnax env that shows only the entries `keep` of its (flat) observation.

    Hiding what an observation needs makes a memory task out of a reactive one:
    CartPole without its two velocities (`MaskedCartPole-v1`) must infer them
    from successive positions, which a feed-forward policy cannot. Episode ends,
    auto-reset and the final observation (masked too) are the wrapped env's.
    """

    def __init__(self, env: Environment, keep: tuple[int, ...]):
        super().__init__()
        self.env = env
        self.keep = tuple(int(i) for i in keep)

    @property
    def default_params(self):
        """The wrapped env's default params."""
        return self.env.default_params

    @property
    def name(self) -> str:
        """The wrapped env's name with a `Masked` prefix (`MaskedCartPole-v1`)."""
        return f"Masked{self.env.name}"

    @property
    def num_actions(self) -> int:
        """The wrapped env's number of actions (the actions are not masked)."""
        return self.env.num_actions

    def _mask(self, obs: jax.Array) -> jax.Array:
        return jnp.reshape(obs, (-1,))[jnp.asarray(self.keep)]

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        return self._mask(obs), state, reward, terminated, info

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return self._mask(obs), state

    def is_truncated(self, state, params) -> jax.Array:
        return self.env.is_truncated(state, params)

    def observation_space(self, params) -> spaces.Box:
        space = self.env.observation_space(params)
        keep = jnp.asarray(self.keep)  # jnp: under jit, gymnax may build the bounds as tracers
        low, high = (jnp.reshape(jnp.broadcast_to(jnp.asarray(b, jnp.float32), space.shape), (-1,))[keep]
                     for b in (space.low, space.high))
        return spaces.Box(low, high, (len(self.keep),), jnp.float32)

    def action_space(self, params):
        return self.env.action_space(params)


# ppo_jax's own env ids, built from a gymnax env: id -> (gymnax id, observation entries kept).
MASKED_ENVS = {
    "MaskedCartPole-v1": ("CartPole-v1", (0, 2)),  # cart position and pole angle; no velocities
}
