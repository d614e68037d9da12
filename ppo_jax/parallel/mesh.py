"""The device mesh of a population: its axis, shardings, device checks, gathering to the host."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax.core.placement import GROUPS_AXIS, GroupPlacement

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


def member_sharding(devices: tuple | Mesh, leading: int) -> NamedSharding:
    """Member axis (after `leading` unsharded axes) split over a 1-D mesh of `devices`, or
    over the member axis of a (members x groups) mesh."""
    mesh = devices if isinstance(devices, Mesh) else Mesh(np.asarray(devices), (POPULATION_AXIS,))
    return NamedSharding(mesh, PartitionSpec(*([None] * leading), POPULATION_AXIS))


def sharding_constraint(devices: tuple | Mesh) -> Callable:
    """tree -> tree with every leaf's leading (member) axis constrained to be split over `devices`
    (or over the member axis of a (members x groups) mesh)."""
    sharding = member_sharding(devices, 0)
    if not isinstance(devices, Mesh) and len(devices) == 1:
        return lambda tree: tree
    return lambda tree: jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


# --- Two axes: members x groups (PPOConfig.data_parallel) ---------------------------


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def check_group_devices(group_devices, data_parallel: int, num_devices: int, where: str) -> int:
    """`group_devices` (how many devices each member's env groups are split over) as an int;
    a ValueError naming it unless it divides both data_parallel and the device count."""
    if isinstance(group_devices, bool) or not isinstance(group_devices, (int, np.integer)) or group_devices < 1:
        raise ValueError(f"{where}: group_devices must be a positive int, got {group_devices!r}")
    group_devices = int(group_devices)
    valid = [d for d in _divisors(data_parallel) if num_devices % d == 0]
    if group_devices > num_devices:
        raise ValueError(
            f"{where}: group_devices = {group_devices} asks for more devices than the "
            f"{num_devices} given; valid: {valid} (divisors of data_parallel = {data_parallel} "
            f"that divide the device count)")
    if data_parallel % group_devices:
        raise ValueError(
            f"{where}: group_devices = {group_devices} does not divide PPOConfig.data_parallel = "
            f"{data_parallel}: each device holds whole groups; valid: {valid}")
    if num_devices % group_devices:
        raise ValueError(
            f"{where}: the {num_devices} devices do not divide into a mesh of members x "
            f"group_devices = {group_devices}; valid group_devices: {valid}, or pass a device "
            f"list whose length is a multiple of {group_devices}")
    return group_devices


def auto_group_devices(num_members: int, data_parallel: int, num_devices: int) -> int:
    """The default split: members take as many devices as divide the population (they never
    communicate), and each member's groups as many of the rest as divide data_parallel."""
    members = math.gcd(num_members, num_devices)
    return math.gcd(data_parallel, num_devices // members)


def population_mesh(devices: tuple, group_devices: int) -> Mesh:
    """A 2-D mesh (members, groups) of `devices`, `group_devices` per member (row)."""
    return Mesh(np.asarray(devices).reshape(-1, group_devices), (POPULATION_AXIS, GROUPS_AXIS))


def agent_placement(devices, data_parallel: int, where: str) -> GroupPlacement | None:
    """One agent's groups split over `devices` (None: no placement): their count must
    divide data_parallel."""
    if devices is None:
        return None
    devices = check_devices(devices, where)
    if data_parallel % len(devices):
        raise ValueError(
            f"{where}: {len(devices)} devices cannot hold PPOConfig.data_parallel = {data_parallel} "
            f"groups evenly (each device holds whole groups); pass a number of devices in "
            f"{_divisors(data_parallel)}, or make data_parallel a multiple of {len(devices)}")
    return GroupPlacement(population_mesh(devices, len(devices)))


def mesh_member_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (member) axis split over the mesh's member axis; replicated over its groups."""
    return NamedSharding(mesh, PartitionSpec(POPULATION_AXIS))
