"""Sweep grids: validating a grid and expanding it into configurations.

A grid is a dict of lists (its Cartesian product) or a list of dicts (explicit
configurations, e.g. from `random_search`). Keys are `HParams` fields (traced:
one compile for any values) or static `PPOConfig` fields (one compile per
distinct combination). Every check runs before anything is compiled.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppo_jax.config.config import STATIC_FIELDS, PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS
from ppo_jax.util.checks import is_real

VALID_KEYS = (
    f"valid keys: HParams fields {', '.join(HPARAM_FIELDS)}; "
    f"static PPOConfig fields {', '.join(STATIC_FIELDS)}"
)


def check_key(key: Any, where: str) -> None:
    """ValueError unless `key` is an HParams field or a static PPOConfig field (`where`: for the message)."""
    if key not in HPARAM_FIELDS and key not in STATIC_FIELDS:
        raise ValueError(f"sweep: unknown key {key!r} in {where}; {VALID_KEYS}")


def check_value(key: str, value: Any, where: str) -> None:
    """HParams values must be real numbers; static values are checked by PPOConfig."""
    if key in HPARAM_FIELDS and not is_real(value):
        raise ValueError(
            f"sweep: {key} values must be numbers, got {value!r} ({type(value).__name__}) in {where}"
        )


def check_values(key: Any, values: Any) -> None:
    """One grid entry: a known key and a non-empty list of values of the right type."""
    check_key(key, "the grid")
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
        raise ValueError(f"sweep: grid[{key!r}] must be a non-empty list of values, got {values!r}")
    for value in values:
        check_value(key, value, f"grid[{key!r}]")


def _check_settings(settings: Any, where: str) -> None:
    """One explicit configuration: a dict of known keys and values of the right type."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"sweep: {where} must be a dict, got {settings!r}")
    for key, value in settings.items():
        check_key(key, where)
        check_value(key, value, where)


def expand_grid(grid: Mapping | Sequence[Mapping]) -> list[dict]:
    """Dict of lists -> its Cartesian product; list of dicts -> those configurations.

    Returns one dict of settings per configuration. Raises ValueError for an
    unknown key, an empty list, or a value of the wrong type.
    """
    if isinstance(grid, Mapping) and grid:
        for key, values in grid.items():
            check_values(key, values)
        return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if isinstance(grid, (list, tuple)) and grid:
        for i, settings in enumerate(grid):
            _check_settings(settings, f"configuration {i}")
        return [dict(settings) for settings in grid]
    raise ValueError(
        f"sweep: grid must be a dict of non-empty lists or a non-empty list of dicts, got {grid!r}"
    )


def configure(config: PPOConfig, settings: dict, index: int) -> PPOConfig:
    """`config` with one configuration's settings applied (HParams values as floats)."""
    settings = {k: float(v) if k in HPARAM_FIELDS else v for k, v in settings.items()}
    try:
        config = config.replace(**settings)
    except (ValueError, TypeError) as err:
        raise ValueError(f"sweep: configuration {index} {settings}: {err}") from None
    batched = [f for f in HPARAM_FIELDS if np.ndim(getattr(config.hparams, f)) != 0]
    if batched:
        raise ValueError(f"sweep: the base config's HParams must be scalars; batched: {batched}")
    return config


