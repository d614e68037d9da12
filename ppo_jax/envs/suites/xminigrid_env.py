"""XLand-MiniGrid's MiniGrid ports (`xminigrid/<id>`, e.g. `xminigrid/MiniGrid-Empty-6x6`)
under the `ppo_jax.envs.Env` protocol.

XLand-MiniGrid's `env.step(params, timestep, action)` never resets: after its
last step an episode just goes on (and, its step counter past `max_steps`,
never ends again); its `GymAutoResetWrapper` resets in the same step but
drops the final observation. This module steps the bare env and ends
episodes itself, reading XLand-MiniGrid's step type and discount:

- `terminated`: step type LAST with discount 0, the task's goal reached (in
  the MiniGrid ports: the agent on the goal tile, the object picked up, ...);
  the reward is then `1 - 0.9 * steps / max_steps`, and 0 at every other step;
- `truncated`: step type LAST with discount 1, `max_steps` reached without
  the goal (XLand-MiniGrid's own time limit, e.g. 4 * height * width for the
  Empty rooms; option `max_steps`). A goal reached on the last step counts
  as terminated, never both;
- `final_obs`: the observation the step reached; `obs` and the state are a
  fresh `reset` with the step's key where the episode ended (no dead
  transition).

A reset costs more than a step (it builds the grid), so, as for Craftax,
`ppo_jax.util.batching.sparse_reset` resets only the envs that ended: none
at most steps, a small pool gathered by index at the others. On a 2-core
CPU, 64 envs, random actions: DoorKey-8x8 steps at 841k steps/s this way
against 190k resetting every env at every step (835k for the bare step),
Playground at 256k against 55k. The states are integers, so these are
exactly the resets of a reset per env per step (a test checks it).

Observations are XLand-MiniGrid's own: the agent's egocentric view, uint8
[view_size, view_size, 2] (tile id, colour id per cell; view_size 7 for most
ids, 3 for the Memory ones; option `view_size`). A "cnn" network reads the
view as an image (its channels the tile and colour ids); the adapter flattens
it to float32. Six discrete actions: forward, turn right, turn left, pick up,
put down, toggle.

Only the 23 `MiniGrid-*` ids are offered (`env_names()`). The XLand ids
(`XLand-MiniGrid-R*`) define their tasks through a ruleset sampled from a
benchmark that `xminigrid.load_benchmark` downloads from Hugging Face; built
without one their goal is empty (no episode can be won), so they are refused
with that reason (`check_name`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.envs.suites import positive_int_option
from ppo_jax.util.batching import sparse_reset

LAST = 2  # xminigrid.types.StepType.LAST
XLAND_PREFIX = "XLand-MiniGrid"


def check_view_size(value) -> None:
    """A check for the option `view_size`: ValueError unless an odd int >= 3 (the agent
    sits in the middle of the view's bottom row)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 3 or value % 2 == 0:
        raise ValueError(f"PPOConfig.env_options['view_size'] {value!r} is not an odd integer >= 3 "
                         "(valid: 3, 5, 7, ...)")


OPTIONS = {"max_steps": positive_int_option("max_steps"), "view_size": check_view_size}


def env_names() -> list[str]:
    """The ids offered (`xminigrid/<id>`): XLand-MiniGrid's `MiniGrid-*` ports, in its order."""
    import xminigrid

    return [name for name in xminigrid.registered_environments() if name.startswith("MiniGrid-")]


def check_name(name: str) -> None:
    """ValueError unless `name` is one of `env_names()`; for an XLand id, saying why not."""
    names = env_names()
    if name in names:
        return
    valid = ", ".join(f"xminigrid/{n}" for n in names)
    if name.startswith(XLAND_PREFIX):
        raise ValueError(
            f"PPOConfig.env 'xminigrid/{name}': the XLand-MiniGrid ids are not supported: their task "
            "is a ruleset from a benchmark that xminigrid.load_benchmark downloads from Hugging Face, "
            f"and without one their goal is empty (no episode can be won); valid: {valid}")
    raise ValueError(f"PPOConfig.env 'xminigrid/{name}': xminigrid has no env {name!r}; valid: {valid}")


class XMiniGridEnv:
    """One XLand-MiniGrid env that ends its episodes and resets itself in the same step.

    Its state is XLand-MiniGrid's `TimeStep` (grid, agent, step count, observation).

    Args:
      name: a `MiniGrid-*` id (`env_names()`).
      max_steps: the time limit in steps; None: XLand-MiniGrid's default for `name`.
      view_size: the side of the agent's square view (odd); None: the default for `name`.
    """

    def __init__(self, name: str, max_steps: int | None = None, view_size: int | None = None):
        import xminigrid

        check_name(name)
        overrides = {key: int(value) for key, value in
                     (("max_steps", max_steps), ("view_size", view_size)) if value is not None}
        self.name = name
        self.env, self.params = xminigrid.make(name, **overrides)
        self.max_episode_steps = int(self.params.max_steps)
        obs_shape = tuple(self.env.observation_shape(self.params))  # (view, view, 2)
        self.spec = EnvSpec.discrete_actions(obs_shape, self.env.num_actions(self.params))
        self._reset_where = sparse_reset(self.reset)

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """A new episode from `key`: (the view, uint8 [view, view, 2]; the first `TimeStep`)."""
        timestep = self.env.reset(self.params, key)
        return timestep.observation, timestep

    def step(self, key: jax.Array, timestep, action: jax.Array) -> EnvStep:
        """XLand-MiniGrid's non-resetting step, its step type and discount read as terminated
        or truncated, and a `reset` with `key` where the episode ended (see the module docstring)."""
        nxt = self.env.step(self.params, timestep, jnp.asarray(action, jnp.int32))
        last = nxt.step_type == LAST
        terminated = last & (nxt.discount == 0.0)
        truncated = last & ~terminated
        obs, new = self._reset_where(last, key, nxt.observation, nxt)  # resets only the envs that ended
        return EnvStep(obs=obs, state=new, reward=jnp.asarray(nxt.reward, jnp.float32),
                       terminated=terminated, truncated=truncated, final_obs=nxt.observation)


def make(name: str, **options) -> XMiniGridEnv:
    """The `XMiniGridEnv` `name`, with `options` (max_steps, view_size)."""
    return XMiniGridEnv(name, **options)
