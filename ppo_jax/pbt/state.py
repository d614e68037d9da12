"""The carried state of a PBT run and its static plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
from flax import struct

from ppo_jax.config.hparams import HParams
from ppo_jax.core.types import TrainState
from ppo_jax.pbt.exploit import ExploitSettings, Range

Fitness = Callable[[dict], jax.Array]


@struct.dataclass
class PBTState:
    """One PBT run between generations (under the seeds vmap, leaves gain a leading [S]).

    members: TrainState, leaves [P, ...]; hparams: HParams, leaves float32 [P].
    fitness: float32 [P], of the last generation (NaN before the first).
    key: PRNG key of the exploit/explore steps; generation: int32 [] done so far.
    """

    members: TrainState
    hparams: HParams
    fitness: jax.Array
    key: jax.Array
    generation: jax.Array


@dataclasses.dataclass(frozen=True)
class PBTPlan:
    """The static part of a PBT program (hashable: it keys the compile cache).

    ranges: the evolved fields; init_ranges: where generation 0 is drawn from
    (the same fields); num_generations: generations this program runs.
    """

    ranges: tuple[Range, ...]
    init_ranges: tuple[Range, ...]
    settings: ExploitSettings
    population: int
    ready_every: int
    num_generations: int
    fitness: Fitness


def fitness_name(fitness: Fitness) -> str:
    """How a fitness function is recorded (resume checks it): module.qualname."""
    return f"{getattr(fitness, '__module__', '?')}.{getattr(fitness, '__qualname__', repr(fitness))}"
