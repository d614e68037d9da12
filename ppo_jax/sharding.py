"""Sharded execution of a population: members of one static config over a device mesh.

Every (configuration, seed) pair of a static group is one member of a
population of size P, with HParams leaves float32 [P] and keys [P]. The
population axis is sharded over a 1-D device mesh (padded up to a multiple of
the device count; padding members repeat the last one and are dropped from
the results), and each device vmaps training over its own members
(`shard_map`). Works across hosts: every process passes the same host arrays.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax.config import HPARAM_FIELDS, HParams, PPOConfig
from ppo_jax.population import compile_population
from ppo_jax.train import make_trainer

POPULATION_AXIS = "population"


def population_sharding(devices: tuple) -> NamedSharding:
    """Leading (population) axis split over a 1-D mesh of `devices`; other axes whole."""
    mesh = Mesh(np.asarray(devices), (POPULATION_AXIS,))
    return NamedSharding(mesh, PartitionSpec(POPULATION_AXIS))


def sharded_population_program(config: PPOConfig, env, env_params, devices: tuple, sink=None):
    """Jitted (key_data [P, k], HParams of [P]) -> metrics dict of [P, num_updates].

    `shard_map` gives each device its P / num_devices members; on each, the
    members' `trainer.run` is vmapped (equal to `train`: run(init(key, hp), hp)).
    `sink` (a bound logger) gets rows labelled with each member's index p.
    """
    trainer = make_trainer(config, env, env_params, logger=sink)
    run = functools.partial(trainer.run, num_updates=config.num_updates)

    def members(key_data: jax.Array, hparams: HParams) -> dict:
        """This device's members: leaves [P / num_devices, ...]."""
        states = jax.vmap(trainer.init)(jax.random.wrap_key_data(key_data), hparams)
        local = key_data.shape[0]
        member_ids = jax.lax.axis_index(POPULATION_AXIS) * local + jnp.arange(local)
        return jax.vmap(lambda s, h, i: run(s, h, agent_id=i))(states, hparams, member_ids)[1]

    spec = PartitionSpec(POPULATION_AXIS)
    # check_vma=False: members never communicate, and the core's scan carries start
    # from constants that shard_map's varying-axis check would reject.
    return jax.jit(jax.shard_map(members, mesh=population_sharding(devices).mesh,
                                 in_specs=(spec, spec), out_specs=spec, check_vma=False))


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from the same host array on every process (multi-host safe)."""
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


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
                   devices: tuple, env, env_params, sink=None) -> tuple[dict, bool]:
    """Dispatches one static group (configs `hparams` x seeds `key_data` [num_seeds, k]).

    Returns (metrics as global arrays [P_padded, num_updates], not yet on the
    host; whether this call compiled the program).
    """
    sharding = population_sharding(devices)
    rows = population_rows(hparams, key_data, len(devices))
    args = {k: _global_array(v, sharding) for k, v in rows.items()}
    key_data = args.pop("key_data")
    args = (key_data, HParams(**args))
    program, compiled_now = compile_population(
        sharded_population_program, (config, env, env_params, devices, sink), args)
    return program(*args), compiled_now


def to_host(x: jax.Array) -> np.ndarray:
    """The whole global array as numpy, on every process."""
    if x.is_fully_addressable:
        return np.asarray(x)
    return multihost_utils.process_allgather(x, tiled=True)
