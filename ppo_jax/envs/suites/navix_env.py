"""Navix gridworlds (`navix/<id>`, e.g. `navix/Navix-DoorKey-5x5-v0`) under the
`ppo_jax.envs.Env` protocol.

Navix's `step` auto-resets *lazily*: the step after a terminal timestep
ignores its action and returns the reset (reward 0), so every episode end
costs one dead transition, and the final observation is the one the ended
timestep holds. This module steps with Navix's non-resetting `_step` and
resets in the same step instead:

- `terminated` is Navix's step type 2 (the goal reached, or a lava cell);
- `truncated` is step type 1, `max_steps` reached (Navix's own time limit,
  100 on the 5x5 and 8x8 rooms; option `max_steps`);
- `final_obs` is the observation the step reached; `obs` and the state are a
  fresh `reset` with the step's key where the episode ended.

Observations are Navix's default (the symbolic grid for these ids),
flattened to float32. Rewards are Navix's own: 1 on reaching the goal, 0 else.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.envs.suites import positive_int_option

OPTIONS = {"max_steps": positive_int_option("max_steps")}
TRANSITION, TRUNCATION, TERMINATION = 0, 1, 2  # navix.StepType


def env_names() -> list[str]:
    """The ids of Navix's registry, sorted (`navix/<id>`)."""
    import navix as nx

    return sorted(nx.registry())


class NavixEnv:
    """One Navix env that resets in the step an episode ends (no dead transition).

    Its state is Navix's `Timestep`.

    Args:
      name: a Navix id (`env_names()`).
      max_steps: the time limit in steps; None: Navix's default for `name`.
    """

    def __init__(self, name: str, max_steps: int | None = None):
        import navix as nx

        self.name = name
        self.env = nx.make(name, **({} if max_steps is None else {"max_steps": int(max_steps)}))
        self.max_episode_steps = int(self.env.max_steps)
        space = self.env.action_space
        num_actions = int(np.asarray(space.maximum)) - int(np.asarray(space.minimum)) + 1
        self.spec = EnvSpec.discrete_actions(tuple(self.env.observation_space.shape), num_actions)

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """Navix's reset: (the observation cast to float32, the first `Timestep`)."""
        timestep = self.env.reset(key)
        return timestep.observation.astype(jnp.float32), timestep

    def render(self, timestep) -> jax.Array:
        """One env state -> the whole grid as an RGB image, uint8 [H, W, 3] (Navix's `rgb`
        observation function). For GIFs; jittable."""
        import navix as nx

        return nx.observations.rgb(timestep.state).astype(jnp.uint8)

    def step(self, key: jax.Array, timestep, action: jax.Array) -> EnvStep:
        """Navix's non-resetting `_step`, its step type read as terminated or truncated, and a
        `reset` with `key` where the episode ended (see the module docstring)."""
        nxt = self.env._step(timestep, jnp.asarray(action, jnp.int32))
        terminated = nxt.step_type == TERMINATION
        truncated = nxt.step_type == TRUNCATION
        ended = terminated | truncated
        final_obs = nxt.observation.astype(jnp.float32)
        reset_obs, reset_timestep = self.reset(key)
        new = jax.tree.map(lambda r, c: jnp.where(ended, r, c), reset_timestep, nxt)
        return EnvStep(obs=jnp.where(ended, reset_obs, final_obs), state=new,
                       reward=jnp.asarray(nxt.reward, jnp.float32), terminated=terminated,
                       truncated=truncated, final_obs=final_obs)


def make(name: str, **options) -> NavixEnv:
    """The `NavixEnv` `name`, with `options` (max_steps)."""
    return NavixEnv(name, **options)
