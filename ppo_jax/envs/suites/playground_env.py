"""MuJoCo Playground envs (`playground/<name>`, e.g. `playground/CartpoleBalance`) under the
`ppo_jax.envs.Env` protocol, on MJX (Playground's `impl="jax"`; its default, "warp",
needs NVIDIA Warp).

A bare Playground env has neither a time limit nor an auto-reset: Playground's
training wrapper (Brax's `EpisodeWrapper` + an auto-reset) adds both, sets
`done` at the time limit and replaces the observation with the reset one, so a
time-limit step looks terminal and has no final observation. This module wraps
the bare env instead:

- `terminated`: the env's own `done` of the step. DM Control tasks set it only
  when the physics diverged (a NaN in qpos or qvel); their reward and final
  observation are then NaN, replaced by 0 here so that no NaN reaches the
  update. Locomotion tasks set it when the robot falls (Go1, G1, ...).
- `truncated`: the time limit, when the step did not also terminate: after
  `episode_length` control steps, counted in this module's state (Playground's
  and Brax's convention: with `action_repeat` n, every agent step is n control
  steps, so an episode has ceil(episode_length / n) agent steps, which is
  `max_episode_steps`). Both default to the env's own config (DM Control:
  1000 and 1).
- `final_obs`: the observation the step reached; `obs` and the state are a fresh
  random reset (with the step's key) where the episode ended. The reset runs only
  at steps where some env of the batch ended (`ppo_jax.util.batching.any_member`):
  DM Control episodes all end together at the time limit, so one step in
  `max_episode_steps` pays for it. (Not Craftax's pooled `sparse_reset`: it compiles
  MJX's reset twice more, 15 s more on a 2-core CPU, to save little here.)

Observations: DM Control gives a flat float32 vector; locomotion and manipulation
envs may give a dict ({"state": ..., "privileged_state": ...}), passed through as
a structured observation (see `PPOConfig.policy_obs_key` / `value_obs_key`).
Actions: every Playground env takes actions in [-1, 1] per actuator.

Models: the 25 DM Control tasks ship their model files in the package. The
locomotion and manipulation envs load robots from MuJoCo Menagerie, which
Playground looks for under `mujoco_playground/external_deps/mujoco_menagerie`
(`mjx_env.MENAGERIE_PATH`) and otherwise `git clone`s at load time. Where that
folder is absent, `make` raises a ValueError naming the env, the path and how
to get the models, before cloning or compiling anything.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.envs.suites import positive_int_option, repeat_action
from ppo_jax.util.batching import any_member

OPTIONS = {
    "episode_length": positive_int_option("episode_length"),
    "action_repeat": positive_int_option("action_repeat"),
}
MENAGERIE_URL = "https://github.com/deepmind/mujoco_menagerie.git"


def dm_control_names() -> list[str]:
    """The DM Control suite tasks of Playground, sorted (their models ship in the package)."""
    from mujoco_playground._src import dm_control_suite

    return sorted(dm_control_suite.ALL_ENVS)


def menagerie_names() -> list[str]:
    """Playground's locomotion and manipulation envs, sorted: they need MuJoCo Menagerie's models."""
    from mujoco_playground._src import locomotion, manipulation

    return sorted(locomotion.ALL_ENVS + manipulation.ALL_ENVS)


def env_names() -> list[str]:
    """Every Playground env name: the DM Control tasks, then locomotion and manipulation."""
    return dm_control_names() + menagerie_names()


def check_models_present(name: str) -> None:
    """ValueError, before anything is cloned or compiled, when env `name` needs MuJoCo
    Menagerie's robot models and Playground's folder for them does not exist."""
    if name not in menagerie_names():
        return
    from mujoco_playground._src import mjx_env

    path = mjx_env.MENAGERIE_PATH
    if path.exists():
        return
    raise ValueError(
        f"PPOConfig.env 'playground/{name}': this env loads its robot from MuJoCo Menagerie, "
        f"whose models are missing: Playground looks for them at {path} (and would git clone "
        f"them at load time, which needs network access). Get them with: git clone "
        f"{MENAGERIE_URL} {path} && git -C {path} checkout {mjx_env.MENAGERIE_COMMIT_SHA} "
        f"(or, online, load it once: python -c \"from mujoco_playground import registry; "
        f"registry.load('{name}')\"). The DM Control tasks need no download: "
        f"{', '.join('playground/' + n for n in dm_control_names()[:3])}, ...")


def config_overrides(name: str, episode_length: int | None, action_repeat: int | None) -> dict:
    """Playground config overrides for env `name`: MJX (impl "jax"), and the time limit and
    action repeat where the env's config has those fields (a few envs read them)."""
    from mujoco_playground import registry

    config = registry.get_default_config(name)
    overrides = {"impl": "jax"}
    for field, value in (("episode_length", episode_length), ("action_repeat", action_repeat)):
        if value is not None and field in config:
            overrides[field] = int(value)
    return overrides


@struct.dataclass
class PlaygroundState:
    """Playground's state of one env (`mjx_env.State`) and the control steps taken in its
    episode (int32 [])."""

    inner: Any
    steps: jax.Array


class PlaygroundEnv:
    """One Playground env with its time limit and random auto-reset (see the module docstring).

    Args:
      name: a Playground env name (`env_names()`).
      episode_length: the time limit in control steps; None: the env's config (DM Control: 1000).
      action_repeat: control steps per agent step (rewards summed); None: the env's config (1).

    Raises:
      ValueError: the env needs MuJoCo Menagerie's models and they are missing.
    """

    def __init__(self, name: str, episode_length: int | None = None, action_repeat: int | None = None):
        check_models_present(name)
        from mujoco_playground import registry

        self.name = name
        self.env = registry.load(name, config_overrides=config_overrides(name, episode_length, action_repeat))
        config = self.env._config
        self.episode_length = int(episode_length or config.get("episode_length", 1000))
        self.action_repeat = int(action_repeat or config.get("action_repeat", 1))
        self.max_episode_steps = -(-self.episode_length // self.action_repeat)  # agent steps
        # one array (DM Control) or a dict of them: the spec takes either as its example
        example_obs = jax.eval_shape(self.env.reset, jax.random.PRNGKey(0)).obs
        ones = np.ones(self.env.action_size, np.float32)
        self.spec = EnvSpec.box_actions(example_obs, -ones, ones)

    def reset(self, key: jax.Array) -> tuple[Any, PlaygroundState]:
        """Playground's random reset, with the episode's control step count at 0.

        Returns:
          (the observation: float32 [obs_dim], or a dict of arrays; the state).
        """
        inner = self.env.reset(key)
        return inner.obs, PlaygroundState(inner, jnp.zeros((), jnp.int32))

    def _control(self, inner, action: jax.Array):
        """`action_repeat` Playground steps; rewards summed, frozen once one of them terminates.

        Returns:
          (Playground's state after them, the summed reward float32 []).
        """
        return repeat_action(self.env.step, inner, action, self.action_repeat)

    def step(self, key: jax.Array, state: PlaygroundState, action: jax.Array) -> EnvStep:
        """`action_repeat` control steps (rewards summed) with `action` float32 [action_size] in
        [-1, 1], then the time limit, and a random reset with `key` where the episode ended
        (see the module docstring)."""
        nxt, reward = self._control(state.inner, action)
        steps = state.steps + self.action_repeat
        terminated = nxt.done > 0.5
        truncated = (steps >= self.episode_length) & ~terminated
        ended = terminated | truncated
        final_obs = jax.tree.map(lambda x: jnp.where(terminated, jnp.nan_to_num(x), x), nxt.obs)
        reward = jnp.where(terminated, jnp.nan_to_num(reward), reward)
        reached = (final_obs, PlaygroundState(nxt, steps))
        obs, new_state = jax.lax.cond(any_member(ended), self._reset_where, lambda _e, _k, kept: kept,
                                      ended, key, reached)
        return EnvStep(obs=obs, state=new_state, reward=reward.astype(jnp.float32),
                       terminated=terminated, truncated=truncated, final_obs=final_obs)


    def _reset_where(self, ended: jax.Array, key: jax.Array, reached: tuple) -> tuple:
        """(obs, state) of a fresh reset with `key` where `ended` (bool []), else `reached`."""
        return jax.tree.map(lambda fresh, kept: jnp.where(ended, fresh, kept), self.reset(key), reached)


def make(name: str, **options) -> PlaygroundEnv:
    """The `PlaygroundEnv` `name` with `options` (episode_length, action_repeat; unset: the env's config)."""
    return PlaygroundEnv(name, **options)
