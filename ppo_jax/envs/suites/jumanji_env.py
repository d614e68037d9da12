"""Jumanji (`jumanji/<id>`, e.g. `jumanji/Snake-v1`) under the `ppo_jax.envs.Env` protocol.

Jumanji's envs are pure and jittable: `state, timestep = env.reset(key)`,
`state, timestep = env.step(state, action)`, where `timestep` carries a step
type (FIRST / MID / LAST), a reward, a discount and an observation: a
NamedTuple with an `action_mask` field. They do not reset themselves (the
step after a LAST one goes on from the ended state); this module resets in the
step an episode ends, with the step's `key`, and keeps the final observation.

**Observations** are Jumanji's own observation pytree (a NamedTuple, nested in
Maze and BinPack) with its leaf `action_mask` reshaped to the flat action
space below (bool [num_actions]): `EnvSpec.discrete_actions(example_obs,
num_actions, action_mask="action_mask")`. Every other leaf is kept as Jumanji
gives it (int32 / float32 / bool arrays). Illegal actions are never sampled.

**Actions** are one Discrete action per step. A Jumanji MultiDiscrete action
whose mask is *joint* (one flag per combination of the components: Sudoku's
[9, 9, 9] over (row, column, digit), Tetris' [4, 10] over (rotation, column),
BinPack's [40, 20] over (EMS, item), Minesweeper's [10, 10] over (row,
column)) is exact only as one Discrete action over the product: the agent
picks a flat index `i` of `Discrete(prod(dims))`, the mask is the joint mask
reshaped to [prod(dims)] (row-major), and the env is stepped with
`jnp.unravel_index(i, dims)` (`unflatten_action`).

==================== =========================== ============ =====================
id                   action handed to the agent  mask         time limit (truncated)
==================== =========================== ============ =====================
Snake-v1             Discrete(4) (up/right/down/ [4]          4,000 steps
                     left)
Game2048-v1          Discrete(4)                 [4]          none
Maze-v0              Discrete(4)                 [4]          100 (rows x cols)
Sudoku-v0,           Discrete(729) = (row, col,  [729] from   none (at most 81
Sudoku-very-easy-v0  digit) flattened            [9, 9, 9]    steps)
Tetris-v0            Discrete(40) = (rotation,   [40] from    400 steps
                     column) flattened           [4, 10]
BinPack-v2           Discrete(800) = (EMS, item) [800] from   none (at most 20
                     flattened                   [40, 20]     items)
Minesweeper-v0       Discrete(100) = (row, col)  [100] from   none (at most 90)
                     flattened                   [10, 10]
Knapsack-v1          Discrete(50)                [50]         none (at most 50)
TSP-v1               Discrete(20)                [20]         none (20 steps)
==================== =========================== ============ =====================

Per env, the terminal states (an illegal action, never sampled, also ends
every env but 2048, where it leaves the board as it is) and the rewards; then
the mean episode return of a uniformly random policy over every action / over
the legal ones, measured with 128 envs x 500 steps (the episodes that ended):

- Snake: the head leaves the board or hits the body, the board is full, the
  snake is trapped; 1 per fruit. 0.09 / 5.5 (two episodes ended: the legal
  random snake rarely dies before the limit).
- Game2048: no move changes the board; the value of the merged tiles.
  1,088 / 1,076 (64 envs x 3,000 steps).
- Maze: the target reached (1); 0.22 / 0.32 (79% / 68% truncated).
- Sudoku: the board full or no legal digit left; 1 when solved. Sudoku-v0:
  0 / 0.006; Sudoku-very-easy-v0: 0 / 0.49.
- Tetris: no legal placement; 0, 40, 100, 300, 1200 for 0 to 4 lines cleared.
  0.06 / 3.6.
- BinPack: no item fits; the volume packed, relative to the container.
  0.001 / 0.58.
- Minesweeper: a mine revealed or the board solved; 1 per safe cell revealed.
  5.7 / 8.1.
- Knapsack: no item fits; each packed item's value. 4.3 / 13.5.
- TSP: every city visited; minus the distance travelled. -30.5 / -10.4.

**Episode ends.**

- `terminated`: Jumanji's LAST step with discount 0 (the snake died, the
  maze's target reached, the 2048 board full, no legal action left, ...)
  stepped with the time limit lifted, *or* a step that leaves no legal action
  (an all-False mask). The latter differs from Jumanji only in Snake: a
  trapped snake (every move runs into a wall or its body) would end one step
  later with any (illegal) move and reward 0; here it ends the step it is
  trapped, with the same return.
- `truncated`: the time limit. Snake, Maze and Tetris report theirs as a
  *termination* (LAST, discount 0): this module builds them with the limit
  lifted and counts steps itself (`JumanjiState.steps`), so reaching it is
  `truncated` (bootstrapped) unless the episode also ended on its own at that
  step. Option `time_limit` sets the limit of any env (Jumanji's default for
  Snake, Maze and Tetris; none for the others, whose episodes end by
  themselves). A LAST step with discount > 0 (Jumanji's own truncation) is
  `truncated` too.
- `final_obs`: the observation the step reached; `obs` and the state are a
  fresh episode from `key` where the episode ended. Resets run only for the
  envs that ended (`ppo_jax.util.batching.sparse_reset`): Maze's reset
  generates a maze, far costlier than a step (1.8 ms per batch of 64 on 2 CPU
  cores).

Rewards are Jumanji's own, cast to float32.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ppo_jax.envs.spec import EnvSpec, EnvStep
from ppo_jax.envs.suites import positive_int_option
from ppo_jax.util.batching import sparse_reset

OPTIONS = {"time_limit": positive_int_option("time_limit")}
ENV_IDS = ("BinPack-v2", "Game2048-v1", "Knapsack-v1", "Maze-v0", "Minesweeper-v0", "Snake-v1",
           "Sudoku-v0", "Sudoku-very-easy-v0", "TSP-v1", "Tetris-v0")
NATIVE_TIME_LIMIT = ("Maze-v0", "Snake-v1", "Tetris-v0")  # their `time_limit` ends episodes as terminal
NO_TIME_LIMIT = 2**30
MASK_KEY = "action_mask"


def env_names() -> list[str]:
    """The Jumanji ids offered (`ENV_IDS`: single-agent envs with an action mask, tested here)."""
    return list(ENV_IDS)


@struct.dataclass
class JumanjiState:
    """Jumanji's env state plus the steps taken in the episode (int32 [], for the time limit)."""

    env_state: Any
    steps: jax.Array


def action_dims(action_spec) -> tuple[int, ...]:
    """Jumanji's action spec -> the sizes of its components: (n,) for a DiscreteArray(n),
    `num_values` for a MultiDiscreteArray (e.g. (9, 9, 9) for Sudoku)."""
    return tuple(int(n) for n in np.asarray(action_spec.num_values).reshape(-1))


def unflatten_action(flat: jax.Array, dims: tuple[int, ...]) -> jax.Array:
    """A flat Discrete index int [] in [0, prod(dims)) -> Jumanji's action.

    int32 [] for one component (dims = (n,)); int32 [len(dims)] otherwise, the
    row-major multi-index (`jnp.unravel_index`), the inverse of reshaping the
    joint mask [*dims] to [prod(dims)].
    """
    flat = jnp.asarray(flat, jnp.int32)
    if len(dims) == 1:
        return flat
    return jnp.stack(jnp.unravel_index(flat, dims)).astype(jnp.int32)


def flat_observation(observation: NamedTuple) -> NamedTuple:
    """Jumanji's observation -> the same pytree with `action_mask` bool [*dims] reshaped to
    bool [prod(dims)]."""
    mask = jnp.asarray(observation.action_mask, bool)
    return observation._replace(action_mask=jnp.reshape(mask, (-1,)))


def episode_ends(timestep, mask: jax.Array, steps: jax.Array,
                 time_limit: int | None) -> tuple[jax.Array, jax.Array]:
    """(terminated, truncated), bool [] each, at most one True (see the module docstring).

    timestep: Jumanji's TimeStep of a step taken with no time limit of its own.
    mask: bool [num_actions], the legal actions after the step.
    steps: int32 [], the steps taken in the episode, this one included.
    time_limit: the limit in steps, or None for none.
    """
    last = timestep.last()
    own_truncation = last & (timestep.discount > 0)
    terminated = (last & ~own_truncation) | ~jnp.any(mask)
    limit = jnp.zeros((), bool) if time_limit is None else steps >= time_limit
    return terminated, (own_truncation | limit) & ~terminated


def natural_episode_bound(name: str, env) -> int | None:
    """The most steps an episode of `env` can take without a time limit (None: unbounded, 2048)."""
    if name.startswith("Sudoku"):
        return 81
    if name == "BinPack-v2":
        return int(env.generator.max_num_items)
    if name == "Minesweeper-v0":
        return int(env.num_rows * env.num_cols - env.num_mines)
    if name == "Knapsack-v1":
        return int(env.num_items)
    if name == "TSP-v1":
        return int(env.num_cities)
    return None


class JumanjiEnv:
    """One Jumanji env: the flat Discrete action, the flat mask, both episode ends, self-resetting.

    Attributes:
      env: Jumanji's env as Jumanji builds it (its own time limit: for reference).
      action_dims: the sizes of Jumanji's action components ((n,) for Discrete).
      time_limit: the time limit in steps (truncated), or None.
      max_episode_steps: the time limit, else the longest possible episode (None for 2048).

    Args:
      name: a Jumanji id of `ENV_IDS`.
      time_limit: the time limit in steps; None: Jumanji's own (Snake, Maze, Tetris) or none.
    """

    def __init__(self, name: str, time_limit: int | None = None):
        import jumanji

        self.name = name
        native = name in NATIVE_TIME_LIMIT
        self.env = jumanji.make(name, **({"time_limit": int(time_limit)} if native and time_limit else {}))
        # stepped with its own limit lifted: reaching the limit is ours to report (truncated)
        self._stepper = jumanji.make(name, time_limit=NO_TIME_LIMIT) if native else self.env
        self.time_limit = int(time_limit) if time_limit else (int(self.env.time_limit) if native else None)
        bound = natural_episode_bound(name, self.env)
        self.max_episode_steps = min(n for n in (self.time_limit, bound, NO_TIME_LIMIT) if n is not None)
        if self.max_episode_steps == NO_TIME_LIMIT:
            self.max_episode_steps = None
        self.action_dims = action_dims(self.env.action_spec)
        example = jax.eval_shape(lambda key: self.reset(key)[0], jax.random.key(0))
        self.spec = EnvSpec.discrete_actions(example, math.prod(self.action_dims), action_mask=MASK_KEY)
        self._reset_where = sparse_reset(self._reset_pair)

    def reset(self, key: jax.Array) -> tuple[NamedTuple, JumanjiState]:
        """Jumanji's reset: (its observation with the flat mask, the state with 0 steps)."""
        state, timestep = self._stepper.reset(key)
        return flat_observation(timestep.observation), JumanjiState(state, jnp.zeros((), jnp.int32))

    def _reset_pair(self, key: jax.Array) -> tuple[jax.Array, tuple]:
        """`reset` as `sparse_reset` takes it (one array obs): (a dummy, (obs, state))."""
        return jnp.zeros((), jnp.float32), self.reset(key)

    def step(self, key: jax.Array, state: JumanjiState, action: jax.Array) -> EnvStep:
        """Jumanji's step with the flat action unravelled, the episode's end read off (see
        `episode_ends`), and a `reset` with `key` where it ended (only for the envs that did).

        action: int [], a flat index in [0, spec.num_actions).
        """
        nxt, timestep = self._stepper.step(state.env_state, unflatten_action(action, self.action_dims))
        steps = state.steps + 1
        final_obs = flat_observation(timestep.observation)
        terminated, truncated = episode_ends(timestep, final_obs.action_mask, steps, self.time_limit)
        _, (obs, new) = self._reset_where(terminated | truncated, key, jnp.zeros((), jnp.float32),
                                          (final_obs, JumanjiState(nxt, steps)))
        return EnvStep(obs=obs, state=new, reward=jnp.asarray(timestep.reward, jnp.float32),
                       terminated=terminated, truncated=truncated, final_obs=final_obs)


def make(name: str, **options) -> JumanjiEnv:
    """The `JumanjiEnv` `name`, with `options` (time_limit)."""
    return JumanjiEnv(name, **options)
