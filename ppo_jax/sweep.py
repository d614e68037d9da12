"""sweep / random_search / SweepResult: hyperparameter grids x seeds, sharded over devices.

A grid is flattened into configurations; configurations are grouped by their
static `PPOConfig` settings (one compile per distinct combination). Within a
group, every (configuration, seed) pair is one member of a population of size
P = num_configs_in_group * num_seeds, with HParams leaves float32 [P] and keys
[P]. That population axis is sharded over a 1-D device mesh (padded up to a
multiple of the device count; the padding is dropped from the results), and
each device vmaps training over its own members (`shard_map`).

Example:
  >>> res = ppo_jax.sweep(config, {"learning_rate": [1e-4, 3e-4, 1e-3],
  ...                              "clip_eps": [0.1, 0.2]}, num_seeds=16, seed=0)
  >>> res.metrics["episode_return"].shape    # [6, 16, num_updates]
  >>> res.summary()                          # mean final return and 95% CI, best first
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import jax
import numpy as np
import pandas as pd
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax.config import HPARAM_FIELDS, STATIC_FIELDS, HParams, PPOConfig
from ppo_jax.train import make_trainer, seed_keys

POPULATION_AXIS = "population"
FINAL_FRACTION = 0.1  # final return: mean over the last 10% of updates

_VALID_KEYS = (
    f"valid keys: HParams fields {', '.join(HPARAM_FIELDS)}; "
    f"static PPOConfig fields {', '.join(STATIC_FIELDS)}"
)
_num_traces = 0  # traces (= compilations) of population programs so far


# ---------------------------------------------------------------- grids ---


def _check_key(key: Any, where: str) -> None:
    if key not in HPARAM_FIELDS and key not in STATIC_FIELDS:
        raise ValueError(f"sweep: unknown key {key!r} in {where}; {_VALID_KEYS}")


def _check_value(key: str, value: Any, where: str) -> None:
    """HParams values must be real numbers; static values are checked by PPOConfig."""
    is_number = isinstance(value, (int, float, np.integer, np.floating))
    if key in HPARAM_FIELDS and (not is_number or isinstance(value, (bool, np.bool_))):
        raise ValueError(
            f"sweep: {key} values must be numbers, got {value!r} ({type(value).__name__}) in {where}"
        )


def _check_values(key: Any, values: Any) -> None:
    """One grid entry: a known key and a non-empty list of values of the right type."""
    _check_key(key, "the grid")
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
        raise ValueError(f"sweep: grid[{key!r}] must be a non-empty list of values, got {values!r}")
    for value in values:
        _check_value(key, value, f"grid[{key!r}]")


def _check_settings(settings: Any, where: str) -> None:
    """One explicit configuration: a dict of known keys and values of the right type."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"sweep: {where} must be a dict, got {settings!r}")
    for key, value in settings.items():
        _check_key(key, where)
        _check_value(key, value, where)


def expand_grid(grid: Mapping | Sequence[Mapping]) -> list[dict]:
    """Dict of lists -> its Cartesian product; list of dicts -> those configurations.

    Returns one dict of settings per configuration. Raises ValueError for an
    unknown key, an empty list, or a value of the wrong type.
    """
    if isinstance(grid, Mapping) and grid:
        for key, values in grid.items():
            _check_values(key, values)
        return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if isinstance(grid, (list, tuple)) and grid:
        for i, settings in enumerate(grid):
            _check_settings(settings, f"configuration {i}")
        return [dict(settings) for settings in grid]
    raise ValueError(
        f"sweep: grid must be a dict of non-empty lists or a non-empty list of dicts, got {grid!r}"
    )


def _configure(config: PPOConfig, settings: dict, index: int) -> PPOConfig:
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


def _parse_range(key: str, spec: Any) -> tuple[float, float, bool]:
    """(low, high) or (low, high, "log") -> (low, high, log)."""
    is_range = isinstance(spec, tuple) and len(spec) in (2, 3) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in spec[:2])
    log = is_range and spec[2:] == ("log",)
    if not is_range or spec[2:] not in ((), ("log",), ("uniform",)) or not spec[0] < spec[1] or (
            log and spec[0] <= 0):
        raise ValueError(
            f"random_search: space[{key!r}] must be (low, high) or (low, high, 'log') with "
            f"low < high (low > 0 for 'log'), or a non-empty list to choose from; got {spec!r}"
        )
    return float(spec[0]), float(spec[1]), log


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
    """
    if isinstance(num_configs, bool) or not isinstance(num_configs, int) or num_configs <= 0:
        raise ValueError(
            f"random_search: num_configs must be a positive integer, got {num_configs!r}")
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"random_search: space must be a non-empty dict, got {space!r}")
    rng = np.random.default_rng(seed)
    columns = {key: _draw(key, spec, num_configs, rng) for key, spec in space.items()}
    return [{key: values[i] for key, values in columns.items()} for i in range(num_configs)]


def _draw(key: str, spec: Any, num: int, rng: np.random.Generator) -> list:
    """`num` values of `key` from a list (choice) or a (low, high[, "log"]) range."""
    _check_key(key, "the search space")
    if isinstance(spec, list):
        _check_values(key, spec)
        return [spec[i] for i in rng.integers(0, len(spec), num)]
    if key not in HPARAM_FIELDS:
        raise ValueError(f"random_search: static field {key!r} takes a list of values to choose from")
    low, high, log = _parse_range(key, spec)
    if log:
        return [float(x) for x in np.exp(rng.uniform(np.log(low), np.log(high), num))]
    return [float(x) for x in rng.uniform(low, high, num)]


# ------------------------------------------------------------ execution ---


@functools.lru_cache(maxsize=32)
def _population_program(config: PPOConfig, env, env_params, devices: tuple) -> Callable:
    """Jitted (key_data [P, k], HParams of [P]) -> metrics dict of [P, num_updates].

    `shard_map` gives each device its P / num_devices members; on each, the
    members' `trainer.run` is vmapped (equal to `train`: run(init(key, hp), hp)).
    One jitted function per static config and device set, so a later sweep
    with other HParams values (same population size) reuses its compilation.
    """
    trainer = make_trainer(config, env, env_params)
    run = functools.partial(trainer.run, num_updates=config.num_updates)

    def members(key_data: jax.Array, hparams: HParams) -> dict:
        """This device's members: leaves [P / num_devices, ...]."""
        states = jax.vmap(trainer.init)(jax.random.wrap_key_data(key_data), hparams)
        return jax.vmap(run)(states, hparams)[1]

    spec = PartitionSpec(POPULATION_AXIS)
    # check_vma=False: members never communicate, and the core's scan carries start
    # from constants that shard_map's varying-axis check would reject.
    sharded = jax.shard_map(members, mesh=_population_sharding(devices).mesh,
                            in_specs=(spec, spec), out_specs=spec, check_vma=False)

    def population(key_data: jax.Array, hparams: HParams) -> dict:
        global _num_traces
        _num_traces += 1  # runs once per trace, never inside the compiled program
        return sharded(key_data, hparams)

    return jax.jit(population)


def _population_sharding(devices: tuple) -> NamedSharding:
    """Leading (population) axis split over a 1-D mesh of `devices`; other axes whole."""
    mesh = Mesh(np.asarray(devices), (POPULATION_AXIS,))
    return NamedSharding(mesh, PartitionSpec(POPULATION_AXIS))


def _sharded(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from the same host array on every process (multi-host safe)."""
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _run_group(config: PPOConfig, hparams: list[HParams], key_data: np.ndarray, devices: tuple,
               env, env_params) -> dict:
    """Dispatches one static group: population p = config_index * num_seeds + seed.

    Returns metrics as global arrays [P_padded, num_updates] (not yet on the host).
    """
    num_seeds, num_devices = key_data.shape[0], len(devices)
    rows = {f: np.repeat(np.asarray([getattr(h, f) for h in hparams], np.float32), num_seeds)
            for f in HPARAM_FIELDS}
    rows["key_data"] = np.tile(key_data, (len(hparams), 1))
    pad = -len(rows["key_data"]) % num_devices  # repeat the last member; dropped later
    rows = {k: np.concatenate([v, np.repeat(v[-1:], pad, axis=0)]) for k, v in rows.items()}
    args = {k: _sharded(v, _population_sharding(devices)) for k, v in rows.items()}
    key_data = args.pop("key_data")
    try:
        program = _population_program(config, env, env_params, devices)
    except TypeError:  # unhashable env_params (array leaves): compile without the cache
        program = _population_program.__wrapped__(config, env, env_params, devices)
    return program(key_data, HParams(**args))


def _to_host(x: jax.Array) -> np.ndarray:
    """The whole global array as numpy, on every process."""
    if x.is_fully_addressable:
        return np.asarray(x)
    return multihost_utils.process_allgather(x, tiled=True)


def _check_run_args(num_seeds: Any, seed: Any, devices: Any) -> tuple:
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, (int, np.integer)) or num_seeds <= 0:
        raise ValueError(f"sweep: num_seeds must be a positive integer, got {num_seeds!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"sweep: seed must be an integer, got {seed!r}")
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(f"sweep: devices must be a non-empty list of jax devices, got {devices!r}")
    return devices


def sweep(
    config: PPOConfig,
    grid: Mapping | Sequence[Mapping],
    num_seeds: int,
    seed: int = 0,
    devices: Sequence[jax.Device] | None = None,
    env=None,
    env_params=None,
) -> "SweepResult":
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
      env, env_params: a gymnax env instance overriding `config.env`, as in `make_train`.

    Returns:
      `SweepResult`; metrics are float32 [num_configs, num_seeds, num_updates].

    Raises:
      ValueError: an unknown key, an empty list, a value of the wrong type or
        out of range, before anything is compiled.
    """
    settings = expand_grid(grid)
    devices = _check_run_args(num_seeds, seed, devices)
    configs = [_configure(config, s, i) for i, s in enumerate(settings)]
    groups: dict[PPOConfig, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(dataclasses.replace(cfg, hparams=HParams()), []).append(i)
    key_data = np.asarray(jax.random.key_data(seed_keys(int(seed), int(num_seeds))))
    traces_before = _num_traces
    outputs = [  # dispatch every group before waiting on any
        _run_group(static, [configs[i].hparams for i in indices], key_data, devices, env, env_params)
        for static, indices in groups.items()
    ]
    num_compiles = _num_traces - traces_before
    metrics = _gather(outputs, list(groups.values()), len(configs), int(num_seeds),
                      max(cfg.num_updates for cfg in configs))
    return SweepResult(tuple(configs), tuple(settings), metrics, int(seed), num_compiles)


def _gather(outputs: list[dict], groups: list[list[int]], num_configs: int, num_seeds: int,
            num_updates: int) -> dict[str, np.ndarray]:
    """Group outputs [P_padded, U_group] -> host arrays [num_configs, num_seeds, num_updates].

    Padding members are dropped; runs shorter than num_updates are NaN past their end.
    """
    metrics = {name: np.full((num_configs, num_seeds, num_updates), np.nan, np.float32)
               for name in outputs[0]}
    for indices, output in zip(groups, outputs):
        for name, value in output.items():
            host = _to_host(value)[: len(indices) * num_seeds]
            metrics[name][indices, :, : host.shape[-1]] = host.reshape(len(indices), num_seeds, -1)
    return metrics


# -------------------------------------------------------------- results ---


def bootstrap_ci(samples: np.ndarray, confidence: float = 0.95, num_resamples: int = 10_000,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its percentile-bootstrap confidence interval.

    Args:
      samples: [n, ...] (e.g. seeds first); NaN entries are ignored.
      confidence: coverage of the interval.
      num_resamples: bootstrap resamples of the n rows (with replacement).
      seed: numpy seed of the resampling.

    Returns:
      (mean, low, high), each of shape samples.shape[1:].
    """
    samples = np.asarray(samples, np.float64)
    idx = np.random.default_rng(seed).integers(0, samples.shape[0], (num_resamples, samples.shape[0]))
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        means = np.nanmean(samples[idx], axis=1)
        low, high = np.nanpercentile(means, [tail, 100 - tail], axis=0)
        return np.nanmean(samples, axis=0), low, high


def _metric_column(metric: str) -> str:
    """Frame column of a metric: `learning_rate` -> `learning_rate_at_update` (not the setting)."""
    return metric + "_at_update" if metric in HPARAM_FIELDS else metric


def _setting(config: PPOConfig, key: str) -> Any:
    return getattr(config.hparams, key) if key in HPARAM_FIELDS else getattr(config, key)


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """What `sweep` returns: per-update metrics of every (configuration, seed).

    Attributes:
      configs: per configuration, its full `PPOConfig` (static settings and
        scalar HParams); `train_seeds(configs[i], num_seeds, seed)` reproduces row i.
      settings: per configuration, the settings the grid gave it (dict).
      metrics: dict of float32 [num_configs, num_seeds, num_updates] (the
        `TrainOutput.metrics` keys). When a static field changes num_updates,
        the axis is the longest run's and shorter runs are NaN past their end.
      seed: the integer seed of the sweep.
      num_compiles: compilations this call needed: one per distinct static
        combination, 0 for those already compiled by an earlier call with the
        same population size.
    """

    configs: tuple[PPOConfig, ...]
    settings: tuple[dict, ...]
    metrics: dict[str, np.ndarray]
    seed: int
    num_compiles: int

    @property
    def num_configs(self) -> int:
        return len(self.configs)

    @property
    def num_seeds(self) -> int:
        return self.metrics["episode_return"].shape[1]

    @property
    def keys(self) -> list[str]:
        """The swept settings, in grid order."""
        return list(dict.fromkeys(k for s in self.settings for k in s))

    @property
    def hparams(self) -> HParams:
        """Every configuration's HParams stacked: leaves float32 [num_configs]."""
        return HParams(**{f: np.asarray([getattr(c.hparams, f) for c in self.configs], np.float32)
                          for f in HPARAM_FIELDS})

    def final_returns(self) -> np.ndarray:
        """float64 [num_configs, num_seeds]: each run's final return.

        The final return of a run is the nanmean of `episode_return` over its
        last 10% of updates (at least one update; NaN if no episode ended then).
        """
        out = np.full((self.num_configs, self.num_seeds), np.nan)
        for i, cfg in enumerate(self.configs):
            last = max(1, math.ceil(FINAL_FRACTION * cfg.num_updates))
            window = self.metrics["episode_return"][i, :, cfg.num_updates - last: cfg.num_updates]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[i] = np.nanmean(window, axis=-1)
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy frame: one row per (configuration, seed, update).

        Columns: config, seed (index into the sweep's seed keys), update, one
        column per swept setting, then one per metric. Metrics named like an
        HParams field (`learning_rate`, `kl_coef`: their value at that update,
        annealed or adapted) get the suffix `_at_update`, so the setting keeps its name.
        """
        frames = []
        for i, cfg in enumerate(self.configs):
            seeds, updates = np.meshgrid(np.arange(self.num_seeds), np.arange(cfg.num_updates),
                                         indexing="ij")
            n = seeds.size
            columns = {"config": np.full(n, i), "seed": seeds.ravel(), "update": updates.ravel()}
            columns.update({k: [_setting(cfg, k)] * n for k in self.keys})
            columns.update({_metric_column(m): v[i, :, : cfg.num_updates].ravel()
                            for m, v in self.metrics.items()})
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)

    def summary(self, confidence: float = 0.95, num_resamples: int = 10_000) -> pd.DataFrame:
        """Per configuration: mean final return over seeds and its bootstrap CI, best first.

        Final return as in `final_returns` (nanmean of episode_return over the
        last 10% of updates); seeds with no episode in that window are left out
        of the mean. Columns: config, the swept settings, final_return, ci_low, ci_high.
        """
        mean, low, high = bootstrap_ci(self.final_returns().T, confidence, num_resamples)
        frame = pd.DataFrame({"config": np.arange(self.num_configs)})
        for key in self.keys:
            frame[key] = [_setting(cfg, key) for cfg in self.configs]
        frame["final_return"], frame["ci_low"], frame["ci_high"] = mean, low, high
        frame = frame.sort_values("final_return", ascending=False, na_position="last", kind="stable")
        return frame.reset_index(drop=True)

    def best(self) -> PPOConfig:
        """The `PPOConfig` of the configuration with the highest mean final return."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(self.final_returns(), axis=1)
        if np.all(np.isnan(means)):
            raise ValueError(
                "SweepResult.best: no run completed an episode in its last 10% of updates")
        return self.configs[int(np.nanargmax(means))]
