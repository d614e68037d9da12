"""Sharded execution of a population: members of one static config over a device mesh.

Every (configuration, seed) pair of a static group is one member of a
population of size P, with HParams leaves float32 [P] and keys [P]. The
population axis is sharded over a 1-D device mesh (padded up to a multiple of
the device count; padding members repeat the last one and are dropped from
the results), and each device vmaps training over its own members
(`shard_map`). Works across hosts: every process passes the same host arrays.
"""

from __future__ import annotations

import numpy as np
from jax.sharding import Mesh

from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams
from ppo_jax.parallel.compile import compile_population
from ppo_jax.parallel.mesh import POPULATION_AXIS, global_array, mesh_member_sharding, population_sharding
from ppo_jax.train import population_program


def population_rows(hparams: list[HParams], key_data: np.ndarray, num_devices: int) -> dict:
    """Host arrays of a population, member p = config_index * num_seeds + seed.

    Returns {HParams field: float32 [P_padded], "key_data": [P_padded, k]},
    padded to a multiple of `num_devices` by repeating the last member.
    """
    num_seeds = key_data.shape[0]
    rows = {f: np.repeat(np.asarray([getattr(h, f) for h in hparams], np.float32), num_seeds)
            for f in HPARAM_FIELDS}
    rows["key_data"] = np.tile(key_data, (len(hparams), 1))
    pad = -len(rows["key_data"]) % num_devices
    return {k: np.concatenate([v, np.repeat(v[-1:], pad, axis=0)]) for k, v in rows.items()}


def run_population(config: PPOConfig, hparams: list[HParams], key_data: np.ndarray,
                   devices: tuple | Mesh, env, env_params, sink=None) -> tuple[dict, bool]:
    """Dispatches one static group (configs `hparams` x seeds `key_data` [num_seeds, k]).

    `devices`: a tuple (members split over them) or a (members x groups) `Mesh`.

    Returns (metrics as global arrays [P_padded, num_updates], not yet on the
    host; whether this call compiled the program).
    """
    if isinstance(devices, Mesh):
        sharding, num_member_slots = mesh_member_sharding(devices), devices.shape[POPULATION_AXIS]
    else:
        sharding, num_member_slots = population_sharding(devices), len(devices)
    rows = population_rows(hparams, key_data, num_member_slots)
    args = {k: global_array(v, sharding) for k, v in rows.items()}
    key_data = args.pop("key_data")
    args = (key_data, HParams(**args))
    program, compiled_now = compile_population(
        population_program, (config, env, env_params, None, sink, False, devices, False), args)
    return program(*args)[1], compiled_now
