"""Names of the agents of a population (seeds, sweep cells, PBT members), for loggers and reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppo_jax.config.config import PPOConfig


def scalar_value(value: Any):
    """A value a config/hparams panel shows: int, float, bool or str."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return str(tuple(value))
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return str(value)


def config_hparams(config) -> dict[str, Any]:
    """A PPOConfig as a flat {name: scalar} dict: static fields, then HParams fields."""
    data = config.to_dict()
    hparams = data.pop("hparams")
    return {**{k: scalar_value(v) for k, v in data.items()}, **{k: scalar_value(v) for k, v in hparams.items()}}


@dataclasses.dataclass(frozen=True)
class Agents:
    """Who the rows of a population are, by position (or agent id).

    names: curve name per agent. groups: per agent, the group it is reduced
    with under `population="reduce"`. hparams: per agent, its hyperparameters
    as sorted (name, value) pairs (a tuple, so the table is hashable).
    """

    names: tuple[str, ...]
    groups: tuple[str, ...]
    hparams: tuple[tuple[tuple[str, Any], ...], ...]


def seed_agents(config, num_seeds: int) -> Agents:
    """`train_seeds`' agents: seed0, seed1, ..., one group, the run's hyperparameters."""
    hp = tuple(config_hparams(config).items())
    return Agents(tuple(f"seed{i}" for i in range(num_seeds)), ("population",) * num_seeds,
                  tuple(hp + (("seed_index", i),) for i in range(num_seeds)))


def setting_name(setting: Mapping[str, Any]) -> str:
    """{"learning_rate": 0.001, "clip_eps": 0.2} -> 'learning_rate=0.001,clip_eps=0.2'."""
    show = lambda v: f"{v:.4g}" if isinstance(v, float) else str(scalar_value(v))
    return ",".join(f"{k}={show(v)}" for k, v in setting.items()) or "default"


def sweep_agents(configs: Sequence, settings: Sequence[Mapping], indices: Sequence[int],
                 num_seeds: int) -> Agents:
    """A sweep group's members (config index-major, then seed): `<setting>/seed<s>`."""
    names, groups, hparams = [], [], []
    for i in indices:
        group = setting_name(settings[i])
        hp = tuple(config_hparams(configs[i]).items()) + (("config_index", i),)
        for s in range(num_seeds):
            names.append(f"{group}/seed{s}")
            groups.append(group)
            hparams.append(hp + (("seed_index", s),))
    return Agents(tuple(names), tuple(groups), tuple(hparams))


def pbt_agents(config: PPOConfig, num_seeds: int, population: int) -> Agents:
    """PBT's logged agents, seed-major as the population's rows: `seed<s>/member<p>`,
    grouped per run, with the base config's hyperparameters."""
    hp = tuple(config_hparams(config).items())
    pairs = [(s, p) for s in range(num_seeds) for p in range(population)]
    return Agents(tuple(f"seed{s}/member{p}" for s, p in pairs), tuple(f"seed{s}" for s, _ in pairs),
                  tuple(hp + (("seed_index", s), ("member", p)) for s, p in pairs))
