"""Brax envs (`brax/<name>`) under the `ppo_jax.envs.Env` protocol.

Brax's own training wrappers (`EpisodeWrapper` + `AutoResetWrapper`) end an
episode at its time limit by setting `done`, then replace the observation
with the reset one: a time-limit step is then indistinguishable from a
terminal one, and there is no final observation to bootstrap from. This
module uses the bare env instead and does both itself:

- `terminated` is Brax's own `done` of the step (the robot fell, ...);
- `truncated` is the time limit: `episode_length` physics steps (Brax's
  convention: with `action_repeat` n, every agent step is n of them), when
  the step did not also terminate;
- `final_obs` is the observation the step reached; the returned `obs` and
  state are a fresh `reset` (its own key) where the episode ended. Every reset
  is random (Brax's `AutoResetWrapper` reuses the first reset state).

Actions: the adapter maps the policy's [-1, 1] onto the actuators' control
range (`sys.actuator.ctrl_range`; e.g. [-3, 3] for inverted_pendulum).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.envs.suites import choice_option, positive_int_option, repeat_action

BACKENDS = ("generalized", "positional", "spring", "mjx")
DEFAULTS = {"backend": "generalized", "episode_length": 1000, "action_repeat": 1}
OPTIONS = {
    "backend": choice_option("backend", BACKENDS),
    "episode_length": positive_int_option("episode_length"),
    "action_repeat": positive_int_option("action_repeat"),
}


def env_names() -> list[str]:
    """The names of Brax's registered envs, sorted (`brax/<name>`; its test stub "fast" left out)."""
    from brax import envs

    return sorted(n for n in envs._envs if n != "fast")  # "fast": Brax's own test stub


@struct.dataclass
class BraxState:
    """Brax's state of one env and the physics steps taken in its episode (int32 [])."""

    inner: Any
    steps: jax.Array


class BraxEnv:
    """One Brax env with its time limit and random auto-reset (see the module docstring)."""

    def __init__(self, name: str, backend: str = "generalized", episode_length: int = 1000,
                 action_repeat: int = 1):
        from brax import envs

        self.name = name
        self.env = envs.get_environment(name, backend=backend)
        self.episode_length = int(episode_length)
        self.action_repeat = int(action_repeat)
        self.max_episode_steps = -(-self.episode_length // self.action_repeat)  # agent steps
        low, high = np.asarray(self.env.sys.actuator.ctrl_range, np.float32).T
        # Not Brax's `observation_size`: it runs reset op by op, 10 to 20 s on a CPU
        # (hundreds of tiny compiles); tracing it for the shape takes well under one.
        obs_shape = jax.eval_shape(self.env.reset, jax.random.PRNGKey(0)).obs.shape
        self.spec = EnvSpec.box_actions(tuple(obs_shape), low, high)

    def reset(self, key: jax.Array) -> tuple[jax.Array, BraxState]:
        """Brax's random reset, with the episode's physics step count at 0."""
        inner = self.env.reset(key)
        return inner.obs, BraxState(inner, jnp.zeros((), jnp.int32))

    def _physics(self, inner, action: jax.Array):
        """`action_repeat` Brax steps; rewards summed, frozen once one of them terminates."""
        return repeat_action(self.env.step, inner, action, self.action_repeat)

    def render(self, state: BraxState, size: int = 256) -> jax.Array:
        """One env state -> a stick figure, uint8 [size, size, 3]: each link joined to its
        parent, projected onto the plane the body spreads over at reset (the x-z side view
        for hopper, walker2d or halfcheetah; the x-y top view for reacher or ant), centred on
        the root link, with the ground (z = 0) in grey in side views. For GIFs; jittable."""
        axes, extent = self._view()
        pos = state.inner.pipeline_state.x.pos[:, axes]  # [links, 2]
        centre = pos[0]
        to_pixel = lambda p: ((p - centre) / extent + 0.5) * (size - 1)  # noqa: E731
        canvas = jnp.full((size, size, 3), 255, jnp.uint8)
        t = jnp.linspace(0.0, 1.0, 2 * size)[:, None]

        def draw(canvas, a, b, colour):
            xy = jnp.round(to_pixel(a + t * (b - a))).astype(jnp.int32)  # points along a to b
            for dx in (-1, 0, 1):  # 3 pixels thick
                for dy in (-1, 0, 1):
                    canvas = canvas.at[size - 1 - (xy[:, 1] + dy), xy[:, 0] + dx].set(colour, mode="drop")
            return canvas

        if axes[1] == 2:  # side view: the ground
            far = jnp.array([extent, 0.0])
            ground = jnp.stack([centre[0], 0.0])
            canvas = draw(canvas, ground - far, ground + far, jnp.array([150, 150, 150], jnp.uint8))
        for link, parent in enumerate(self.env.sys.link_parents):
            other = pos[parent] if parent >= 0 else pos[link]
            canvas = draw(canvas, other, pos[link], jnp.array([60, 120, 200], jnp.uint8))
        return canvas

    def _view(self) -> tuple[tuple[int, int], float]:
        """The two axes the body spreads over at reset (x first) and the view's width in metres."""
        if not hasattr(self, "_view_cache"):
            # Compiled ahead of time and called on a numpy key, so that it runs even when
            # render is being traced under jit (where `ensure_compile_time_eval` would run
            # Brax's reset op by op: 10 to 20 s on a CPU).
            key = np.zeros(2, np.uint32)  # jax.random.PRNGKey(0)
            reset = jax.jit(self.env.reset).lower(key).compile()
            pos = np.asarray(reset(key).pipeline_state.x.pos)
            spread = pos.max(axis=0) - pos.min(axis=0)
            other = 2 if spread[2] >= spread[1] else 1
            self._view_cache = (0, other), float(max(1.0, 3.0 * max(spread[0], spread[other])))
        return self._view_cache

    def step(self, key: jax.Array, state: BraxState, action: jax.Array) -> EnvStep:
        """`action_repeat` physics steps (rewards summed), then the time limit and a random reset
        with `key` where the episode ended (see the module docstring)."""
        nxt, reward = self._physics(state.inner, action)
        steps = state.steps + self.action_repeat
        terminated = nxt.done > 0.5
        truncated = (steps >= self.episode_length) & ~terminated
        ended = terminated | truncated
        reset_obs, reset_state = self.reset(key)
        continued = BraxState(nxt, steps)
        new_state = jax.tree.map(lambda r, c: jnp.where(ended, r, c), reset_state, continued)
        return EnvStep(
            obs=jnp.where(ended, reset_obs, nxt.obs),
            state=new_state,
            reward=jnp.asarray(reward, jnp.float32),
            terminated=terminated,
            truncated=truncated,
            final_obs=nxt.obs,
        )


def make(name: str, **options) -> BraxEnv:
    """The `BraxEnv` `name`, with `options` (backend, episode_length, action_repeat) over `DEFAULTS`."""
    return BraxEnv(name, **{**DEFAULTS, **options})
