"""random_search: configurations drawn from a search space, in the grid form `sweep` takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ppo_jax.config.hparams import HPARAM_FIELDS
from ppo_jax.population.grids import check_key, check_values
from ppo_jax.util.checks import check_integer, check_positive_int, parse_range


def _parse_range(key: str, spec: Any) -> tuple[float, float, bool]:
    """(low, high) or (low, high, "log") -> (low, high, log)."""
    return parse_range(spec, f"random_search: space[{key!r}]", ", or a non-empty list to choose from")


def random_search(space: Mapping, num_configs: int, seed: int = 0) -> list[dict]:
    """Draws `num_configs` configurations from `space`, in the list-of-dicts grid form.

    Args:
      space: key -> `(low, high)` (uniform), `(low, high, "log")` (log-uniform:
        uniform in log space) or a list of values (uniform choice; the only
        form for static `PPOConfig` fields). Keys as in `sweep`.
      num_configs: how many configurations to draw.
      seed: numpy seed; the same seed gives the same configurations.

    Returns:
      list of `num_configs` dicts, ready for `sweep(config, grid=...)`.

    Examples:
      >>> space = {"learning_rate": (1e-4, 1e-2, "log"), "num_minibatches": [4, 8]}
      >>> configs = random_search(space, num_configs=32, seed=0)
      >>> len(configs), sorted(configs[0])
      (32, ['learning_rate', 'num_minibatches'])
      >>> all(1e-4 <= c["learning_rate"] <= 1e-2 and c["num_minibatches"] in (4, 8) for c in configs)
      True
    """
    num_configs = check_positive_int(num_configs, "num_configs", "random_search")
    seed = check_integer(seed, "seed", "random_search")
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"random_search: space must be a non-empty dict, got {space!r}")
    rng = np.random.default_rng(seed)
    columns = {key: _draw(key, spec, num_configs, rng) for key, spec in space.items()}
    return [{key: values[i] for key, values in columns.items()} for i in range(num_configs)]


def _draw(key: str, spec: Any, num: int, rng: np.random.Generator) -> list:
    """`num` values of `key` from a list (choice) or a (low, high[, "log"]) range."""
    check_key(key, "the search space")
    if isinstance(spec, list):
        check_values(key, spec)
        return [spec[i] for i in rng.integers(0, len(spec), num)]
    if key not in HPARAM_FIELDS:
        raise ValueError(f"random_search: static field {key!r} takes a list of values to choose from")
    low, high, log = _parse_range(key, spec)
    if log:
        return [float(x) for x in np.exp(rng.uniform(np.log(low), np.log(high), num))]
    return [float(x) for x in rng.uniform(low, high, num)]
