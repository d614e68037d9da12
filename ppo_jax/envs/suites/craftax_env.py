"""Craftax (`craftax/<id>`, e.g. `craftax/Craftax-Classic-Symbolic-v1`) under the
`ppo_jax.envs.Env` protocol.

Craftax follows gymnax's older API: one `done` for every way an episode
ends, and its auto-reset wrapper drops the final observation. This module
builds the env without auto-reset and splits `done`:

- `terminated`: the game is over by the player's death or a lava cell
  (Craftax's `is_terminal` with the time limit lifted);
- `truncated`: `done` otherwise, the time limit `max_timesteps` (Craftax's
  default 10,000 steps for Classic; option `max_timesteps`);
- `final_obs`: the observation the step reached; a fresh world, generated
  with the step's key, follows where the episode ended.

Generating a world costs about 20 steps (on a 2-core CPU, 64 envs: 1,000
resets/s against 20,000 steps/s). Craftax's own auto-reset wrapper generates
one at every step for every env and selects it where an episode ended. Here
`ppo_jax.util.batching.sparse_reset` generates worlds only for the envs that
ended (none at most steps; a small pool gathered by index at the others),
each with its env's own key: the same draw as generating at every step (a
test checks it). Not always the same bits: XLA rounds the generator's noise
differently at different batch sizes (Craftax's own wrapper too), which can
move a few terrain borders of a new map.

Only the symbolic ids are offered: the pixel ones render images the MLP would
flatten.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.envs.suites import positive_int_option
from ppo_jax.util.batching import sparse_reset

OPTIONS = {"max_timesteps": positive_int_option("max_timesteps")}
ENV_IDS = ("Craftax-Classic-Symbolic-v1", "Craftax-Symbolic-v1")
NO_TIME_LIMIT = 2**30


def env_names() -> list[str]:
    """The Craftax ids offered (`ENV_IDS`: the symbolic ones)."""
    return list(ENV_IDS)


class CraftaxEnv:
    """One Craftax env, built without auto-reset, whose `done` is split into terminated and truncated.

    Args:
      name: a Craftax id of `ENV_IDS`.
      max_timesteps: the time limit in steps; None: Craftax's default.
    """

    def __init__(self, name: str, max_timesteps: int | None = None):
        from craftax.craftax_env import make_craftax_env_from_name

        self.name = name
        self.env = make_craftax_env_from_name(name, auto_reset=False)
        params = self.env.default_params
        if max_timesteps is not None:
            params = params.replace(max_timesteps=int(max_timesteps))
        self.params = params
        self.max_episode_steps = int(params.max_timesteps)
        self._no_limit = params.replace(max_timesteps=NO_TIME_LIMIT)
        shape = tuple(self.env.observation_space(params).shape)
        self.spec = EnvSpec.discrete_actions(shape, int(self.env.action_space(params).n))
        self._reset_where = sparse_reset(self.reset)

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """A new world from `key` (Craftax's `reset`); the observation cast to float32."""
        obs, state = self.env.reset(key, self.params)
        return obs.astype(jnp.float32), state

    def render(self, state) -> jax.Array:
        """One env state -> the player's view as an RGB image, uint8 [H, W, 3] (Craftax's
        own pixel renderer, 16-pixel blocks). For GIFs; jittable."""
        if self.name.startswith("Craftax-Classic"):
            from craftax.craftax_classic.constants import BLOCK_PIXEL_SIZE_IMG
            from craftax.craftax_classic.renderer import make_craftax_pixel_renderer
        else:
            from craftax.craftax.constants import BLOCK_PIXEL_SIZE_IMG
            from craftax.craftax.renderer import make_craftax_pixel_renderer
        if not hasattr(self, "_renderer"):
            with jax.ensure_compile_time_eval():  # it loads its textures with numpy
                self._renderer = make_craftax_pixel_renderer(BLOCK_PIXEL_SIZE_IMG)
        pixels = self._renderer(state)
        return jnp.clip(pixels, 0, 255).astype(jnp.uint8)

    def step(self, key: jax.Array, state, action: jax.Array) -> EnvStep:
        """Craftax's step, `done` split into terminated and truncated, and a new world (from
        `key`) generated only where the episode ended (see the module docstring)."""
        step_key, reset_key = jax.random.split(key)
        obs, nxt, reward, done, _ = self.env.step(step_key, state, action, self.params)
        terminated = jnp.asarray(self.env.is_terminal(nxt, self._no_limit), bool)
        truncated = jnp.asarray(done, bool) & ~terminated
        ended = terminated | truncated
        final_obs = obs.astype(jnp.float32)
        # a new world (costly) only where the episode ended
        obs, new = self._reset_where(ended, reset_key, final_obs, nxt)
        return EnvStep(obs=obs, state=new,
                       reward=jnp.asarray(reward, jnp.float32), terminated=terminated,
                       truncated=truncated, final_obs=final_obs)


def make(name: str, **options) -> CraftaxEnv:
    """The `CraftaxEnv` `name`, with `options` (max_timesteps)."""
    return CraftaxEnv(name, **options)
