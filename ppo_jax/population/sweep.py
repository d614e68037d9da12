"""sweep: hyperparameter grids x seeds, one compile per static group, sharded over devices.

A grid (`grids.py`) is flattened into configurations; configurations are
grouped by their static `PPOConfig` settings (one compile per distinct
combination). Each group is one population of (configuration, seed) members,
sharded over the devices (`sharding.py`); the results come back as one
`SweepResult` (`results.py`).

Examples:
  A tiny budget: 2 updates per run:

  >>> import ppo_jax
  >>> config = ppo_jax.PPOConfig(env="CartPole-v1", total_timesteps=1024, hidden_sizes=(16,))
  >>> res = ppo_jax.sweep(config, {"learning_rate": [1e-4, 3e-4, 1e-3],
  ...                              "clip_eps": [0.1, 0.2]}, num_seeds=2, seed=0)
  >>> res.metrics["episode_return"].shape    # [6, 2, num_updates]
  (6, 2, 2)
  >>> list(res.summary().columns)            # mean final return, 95% CI, diverged seeds; best first
  ['config', 'learning_rate', 'clip_eps', 'final_return', 'ci_low', 'ci_high', 'diverged']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from ppo_jax.config.config import PPOConfig
from ppo_jax.config.hparams import HParams
from ppo_jax.core.iteration import METRIC_NAMES
from ppo_jax.envs import Environment, EnvParams
from ppo_jax.parallel.mesh import check_devices, check_group_devices, population_mesh, to_host
from ppo_jax.population.grids import configure, expand_grid
from ppo_jax.population.result import SweepResult
from ppo_jax.population.sharded import run_population
from ppo_jax.tracking.agents import sweep_agents
from ppo_jax.tracking.loggers import LoggerArg, bind_logger
from ppo_jax.train import seed_keys
from ppo_jax.util.checks import check_integer, check_positive_int


def _check_run_args(num_seeds: Any, seed: Any, devices: Any) -> tuple[int, int, tuple]:
    num_seeds = check_positive_int(num_seeds, "num_seeds", "sweep")
    seed = check_integer(seed, "seed", "sweep")
    return num_seeds, seed, check_devices(devices, "sweep")


def sweep(
    config: PPOConfig,
    grid: Mapping | Sequence[Mapping],
    num_seeds: int,
    seed: int = 0,
    devices: Sequence[jax.Device] | None = None,
    env: Environment | None = None,
    env_params: EnvParams | None = None,
    logger: LoggerArg = None,
    group_devices: int = 1,
) -> SweepResult:
    """Trains every configuration of `grid` with `num_seeds` seeds, sharded over `devices`.

    Args:
      config: the base settings; each configuration overrides some of them.
      grid: dict of lists (Cartesian product) or list of dicts (explicit
        configurations, e.g. from `random_search`). Keys: any `HParams` field
        (traced: no recompile) or static `PPOConfig` field (one compile per
        distinct combination of static values).
      num_seeds: seeds per configuration. Seed s of every configuration gets
        the key `seed_keys(seed, num_seeds)[s]`, as in `train_seeds`, so cell
        (i, s) reproduces `train_seeds(res.configs[i], num_seeds, seed)`'s seed s.
      seed: integer seed.
      devices: devices to shard the (configuration x seed) population over;
        default `jax.devices()` (every device of every process).
      env: a gymnax env instance overriding `config.env`, as in `make_train`.
      env_params: that env's params, as in `make_train`.
      logger: a `ppo_jax.loggers.Logger` or a list of them: one curve per
        (configuration, seed) named `<swept key>=<value>,.../seed<s>`, or with
        `population="reduce"` one per configuration (mean, min, max over seeds);
        each with that configuration's hyperparameters. Logged live, through
        the progress callback (a sweep with a logger compiles once per logger).
      group_devices: how many devices each member's env groups
        (`PPOConfig.data_parallel`) are split over: the devices form a mesh of
        (len(devices) / group_devices) members x group_devices; default 1 (each
        member on one device, members never communicate). Must divide every
        configuration's data_parallel and the device count.

    Returns:
      `SweepResult`; metrics are float32 [num_configs, num_seeds, num_updates].

    Raises:
      ValueError: an unknown key, an empty list, a value of the wrong type or
        out of range, before anything is compiled.
    """
    settings = expand_grid(grid)
    num_seeds, seed, devices = _check_run_args(num_seeds, seed, devices)
    configs = [configure(config, s, i) for i, s in enumerate(settings)]
    groups: dict[PPOConfig, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(dataclasses.replace(cfg, hparams=HParams()), []).append(i)
    for static in groups:  # before anything compiles
        check_group_devices(group_devices, static.data_parallel, len(devices), "sweep")
    layout = devices if group_devices == 1 else population_mesh(devices, group_devices)
    key_data = np.asarray(jax.random.key_data(seed_keys(seed, num_seeds)))
    sinks = {static: bind_logger(logger, static, METRIC_NAMES,
                                 sweep_agents(configs, settings, indices, num_seeds))
             for static, indices in groups.items()}  # bad loggers fail before any compile
    outputs, num_compiles = [], 0
    for static, indices in groups.items():  # dispatch every group before waiting on any
        output, compiled_now = run_population(static, [configs[i].hparams for i in indices],
                                              key_data, layout, env, env_params, sinks[static])
        outputs.append(output)
        num_compiles += compiled_now
    metrics = _gather(outputs, list(groups.values()), len(configs), num_seeds,
                      max(cfg.num_updates for cfg in configs))
    for sink in filter(None, sinks.values()):  # every callback has run: results are on the host
        sink.flush()
    return SweepResult(tuple(configs), tuple(settings), metrics, seed, num_compiles)


def _gather(outputs: list[dict], groups: list[list[int]], num_configs: int, num_seeds: int,
            num_updates: int) -> dict[str, np.ndarray]:
    """Group outputs [P_padded, U_group] -> host arrays [num_configs, num_seeds, num_updates].

    Padding members are dropped; runs shorter than num_updates are NaN past their end.
    """
    metrics = {name: np.full((num_configs, num_seeds, num_updates), np.nan, np.float32)
               for name in outputs[0]}
    for indices, output in zip(groups, outputs):
        for name, value in output.items():
            host = to_host(value)[: len(indices) * num_seeds]
            metrics[name][indices, :, : host.shape[-1]] = host.reshape(len(indices), num_seeds, -1)
    return metrics
