"""The device mesh of a population: its axis, shardings, device checks, gathering to the host."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

POPULATION_AXIS = "population"


def check_devices(devices: Any, where: str) -> tuple:
    """`devices` (None: all of `jax.devices()`) as a non-empty tuple of jax devices; a
    ValueError naming `where` otherwise."""
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(f"{where}: devices must be a non-empty list of jax devices, got {devices!r}")
    return devices


def population_sharding(devices: tuple) -> NamedSharding:
    """Leading (population) axis split over a 1-D mesh of `devices`; other axes whole."""
    return member_sharding(devices, 0)


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from the same host array on every process (multi-host safe)."""
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(x: jax.Array) -> np.ndarray:
    """The whole global array as numpy, on every process."""
    if x.is_fully_addressable:
        return np.asarray(x)
    return multihost_utils.process_allgather(x, tiled=True)


def member_devices(devices: tuple, population: int) -> tuple:
    """The devices the member axis is split over: as many as divide the population evenly."""
    return tuple(devices[: math.gcd(population, len(devices))])


def member_sharding(devices: tuple, leading: int) -> NamedSharding:
    """Member axis (after `leading` unsharded axes) split over a 1-D mesh of `devices`."""
    mesh = Mesh(np.asarray(devices), (POPULATION_AXIS,))
    return NamedSharding(mesh, PartitionSpec(*([None] * leading), POPULATION_AXIS))


def sharding_constraint(devices: tuple) -> Callable:
    """tree -> tree with every leaf's leading (member) axis constrained to be split over `devices`."""
    sharding = member_sharding(devices, 0)
    if len(devices) == 1:
        return lambda tree: tree
    return lambda tree: jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)
