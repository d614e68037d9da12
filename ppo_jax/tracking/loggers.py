"""Experiment tracking: per-update metrics of every agent to JSON lines, TensorBoard, W&B.

A logger is a host-side hook. It is built outside the jitted function and
rides the progress bar's callback (`ppo_jax.tracking.progress`): after a reported
update the compiled program calls the host once, with one row of metrics per
agent of the whole vmapped population, and every logger (and the progress
bar) is served from that one call.

    logger = ppo_jax.loggers.TensorBoardLogger("runs/tb", run_name="cartpole")
    outs = ppo_jax.train_seeds(config, num_seeds=8, logger=logger)   # curves seed0..seed7
    res = ppo_jax.sweep(config, grid, num_seeds=4, logger=[logger, JsonlLogger("m.jsonl")])
    logger.close()

Curves: one per agent, named `seed<i>` (`train_seeds`), `<key>=<value>,.../seed<i>`
after the swept values (`sweep`), `agent` / `agent<i>` (`make_train` under your
own vmap). With `population="reduce"` a logger gets one curve per group of
seeds instead (the population of `train_seeds`, each configuration of a
sweep), with `<metric>/mean`, `/min` and `/max` over the group's seeds.
Each curve carries its hyperparameters (static settings and HParams, plus
the swept values) into the backend's config / hparams panel.
Values that are NaN (no episode ended, no evaluation at that update) are not written.

Backends import their packages lazily; a missing one raises ImportError
naming the extra that installs it (`pip install 'ppo_jax[track]'`), before
anything compiles.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppo_jax.tracking.agents import Agents, config_hparams

TRACKERS = ("jsonl", "tensorboard", "wandb")
POPULATION_MODES = ("agents", "reduce")
EXTRA = "track"
_WRITE_LOCK = threading.Lock()
_FILE_IDS = itertools.count()


def _missing_package(package: str, backend: str) -> ImportError:
    return ImportError(
        f"{backend} needs the package {package!r}, which is not installed: pip install "
        f"'ppo_jax[{EXTRA}]' (the optional extra with every tracker backend), or pip install "
        f"{package}")




# --- backends --------------------------------------------------------------------------
class Logger:
    """Base of the backends: curves opened lazily, one `write` per curve and reported update.

    Args (shared by every backend):
      run_name: the name of the whole run (TensorBoard folder, W&B group, JSONL `run`).
      population: "agents" (one curve per agent) or "reduce" (per group of
        seeds: mean, min and max).
      every: log every N updates (the last update, and every update with an
        evaluation, are always logged).
      flush_secs: make what was written visible to readers (TensorBoard, a
        tail of the file) at most this often, and at the end of the run; 0:
        after every reported update (flushing costs a system call per file).
    """

    name = "logger"

    def __init__(self, run_name: str = "ppo_jax", population: str = "agents", every: int = 1,
                 flush_secs: float = 1.0) -> None:
        if population not in POPULATION_MODES:
            raise ValueError(f"{type(self).__name__}: population must be one of "
                             f"{', '.join(POPULATION_MODES)}, got {population!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"{type(self).__name__}: every must be a positive int, got {every!r}")
        if not isinstance(run_name, str) or not run_name:
            raise ValueError(f"{type(self).__name__}: run_name must be a non-empty string, "
                             f"got {run_name!r}")
        if isinstance(flush_secs, bool) or not isinstance(flush_secs, (int, float)) or not (
                flush_secs >= 0):
            raise ValueError(f"{type(self).__name__}: flush_secs must be a number >= 0, got "
                             f"{flush_secs!r}")
        self.run_name, self.population, self.every = run_name, population, every
        self.flush_secs = float(flush_secs)
        self._open: set[str] = set()
        self._flushed_at = time.monotonic()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(run_name={self.run_name!r}, population={self.population!r})"

    def write(self, curve: str, hparams: Mapping[str, Any], update: int, timesteps: int,
              values: Mapping[str, float]) -> None:
        """Logs `values` (finite floats) of `curve` at `update` (`timesteps` env steps)."""
        if curve not in self._open:
            self._open.add(curve)
            self.open_curve(curve, dict(hparams))
        self.log(curve, update, timesteps, values)

    def open_curve(self, curve: str, hparams: dict) -> None:
        """Starts the curve `curve` with its hyperparameters; `write` calls it before the curve's first values.

        Args:
          curve: the curve's name (see the module docstring).
          hparams: setting name -> value: static settings, HParams and swept values.
        """
        raise NotImplementedError

    def log(self, curve: str, update: int, timesteps: int, values: Mapping[str, float]) -> None:
        """Writes one update's values of an open curve; backends implement it.

        Args:
          curve: a curve `open_curve` has started.
          update: the update number (from 1).
          timesteps: env steps per agent so far.
          values: metric name -> finite float.
        """
        raise NotImplementedError

    def flush(self) -> None:
        """Makes everything written so far visible to readers."""

    def maybe_flush(self) -> None:
        """`flush`, if `flush_secs` have passed since the last one (called after every report)."""
        now = time.monotonic()
        if now - self._flushed_at >= self.flush_secs:
            self.flush()
            self._flushed_at = now

    def close(self) -> None:
        """Flushes and releases files / runs; a later write opens them again."""
        self.flush()
        self._open = set()

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class JsonlLogger(Logger):
    """JSON lines, no dependency: one line per curve and update, plus one hparams line per curve.

    Lines: {"run", "curve", "hparams": {...}} when a curve opens, then
    {"run", "curve", "update", "timesteps", <metric>: value, ...}. `read_jsonl`
    reads the file back.
    """

    name = "jsonl"

    def __init__(self, path: str | os.PathLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = None

    def _handle(self):
        if self._file is None:
            self._file = open(self.path, "a")
        return self._file

    def open_curve(self, curve: str, hparams: dict) -> None:
        """Appends the curve's hparams line (opening the file if needed)."""
        self._handle().write(json.dumps({"run": self.run_name, "curve": curve, "hparams": hparams}) + "\n")

    def log(self, curve: str, update: int, timesteps: int, values: Mapping[str, float]) -> None:
        """Appends one line: run, curve, update, timesteps and the values."""
        line = {"run": self.run_name, "curve": curve, "update": update, "timesteps": timesteps, **values}
        self._handle().write(json.dumps(line) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        super().close()
        if self._file is not None:
            self._file.close()
            self._file = None


def read_jsonl(path: str | os.PathLike):
    """(hparams {curve: dict}, metrics frame: one row per (curve, update)) of a `JsonlLogger` file."""
    import pandas as pd

    hparams, rows = {}, []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if "hparams" in record:
                hparams[record["curve"]] = record["hparams"]
            else:
                rows.append(record)
    return hparams, pd.DataFrame(rows)


class TensorBoardLogger(Logger):
    """TensorBoard event files, one run folder per curve: `<logdir>/<run_name>/<curve>/`.

    Written with `tensorboardX` (a small, maintained writer needing only numpy
    and protobuf; tensorboard's own writer needs TensorFlow or PyTorch), through
    its synchronous `EventsWriter`: `SummaryWriter` hands every event to a
    background thread through a multiprocessing queue (a pickle per event), and
    its `flush` does not wait for that queue. Scalars are tagged by metric name
    with the env steps (`timesteps`) as the step, all of one update in one
    event; each curve's hyperparameters go to the HParams panel.
    """

    name = "tensorboard"

    def __init__(self, logdir: str | os.PathLike = "runs/tensorboard", **kwargs: Any) -> None:
        try:
            import tensorboardX  # noqa: F401
        except ImportError as err:
            raise _missing_package("tensorboardX", "TensorBoardLogger") from err
        super().__init__(**kwargs)
        self.logdir = os.fspath(logdir)
        self._writers: dict[str, Any] = {}

    def curve_dir(self, curve: str) -> str:
        """The folder of a curve's event files: `<logdir>/<run_name>/<curve>`."""
        return os.path.join(self.logdir, self.run_name, curve)

    def _event(self, **fields: Any):
        from tensorboardX.proto.event_pb2 import Event

        return Event(wall_time=time.time(), **fields)

    def open_curve(self, curve: str, hparams: dict) -> None:
        """Opens a new event file in `curve_dir(curve)` and writes the hparams to the HParams panel."""
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.summary import hparams as hparams_summary

        folder = self.curve_dir(curve)
        os.makedirs(folder, exist_ok=True)
        # A unique file per writer: the default name has only a seconds timestamp.
        writer = EventsWriter(os.path.join(folder, "events"), f".{os.getpid()}.{next(_FILE_IDS)}")
        for summary in hparams_summary(hparams, {"episode_return": math.nan, "eval_return": math.nan}):
            writer.write_event(self._event(summary=summary))
        self._writers[curve] = writer

    def log(self, curve: str, update: int, timesteps: int, values: Mapping[str, float]) -> None:
        """Writes one event of scalars tagged by metric name, at step `timesteps` (not `update`)."""
        from tensorboardX.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)
                                 for tag, value in values.items()])
        self._writers[curve].write_event(self._event(step=timesteps, summary=summary))

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        super().close()
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class WandbLogger(Logger):
    """Weights & Biases: one W&B run per curve, grouped under `run_name`, hparams in its config.

    `mode="offline"` writes under `dir` without any network (`wandb sync` uploads
    it later). Each curve's W&B step is the update number; `timesteps` is
    logged beside it (pick it as the x axis in the W&B UI).
    """

    name = "wandb"

    def __init__(self, project: str = "ppo_jax", mode: str = "online", dir: str | None = None,
                 **kwargs: Any) -> None:
        try:
            import wandb
        except ImportError as err:
            raise _missing_package("wandb", "WandbLogger") from err
        super().__init__(**kwargs)
        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"WandbLogger: mode must be online, offline or disabled, got {mode!r}")
        self._wandb, self.project, self.mode, self.dir = wandb, project, mode, dir
        self.runs: dict[str, Any] = {}

    def open_curve(self, curve: str, hparams: dict) -> None:
        """Starts a W&B run named `curve` in the group `run_name`, with `hparams` as its config."""
        if self.dir is not None:
            os.makedirs(self.dir, exist_ok=True)
        self.runs[curve] = self._wandb.init(
            project=self.project, name=curve, group=self.run_name, config=hparams, mode=self.mode,
            dir=self.dir, reinit="create_new")

    def log(self, curve: str, update: int, timesteps: int, values: Mapping[str, float]) -> None:
        """Logs the values and `timesteps` to the curve's run, at W&B step `update`."""
        self.runs[curve].log({"timesteps": timesteps, **values}, step=update)

    def close(self) -> None:
        """Finishes every curve's W&B run.

        W&B's background service may still be writing an offline run's files when
        this returns; to read them back in the same process, call `wandb.teardown()`
        first (it waits for the service; it also ends any other W&B run you have open).
        """
        super().close()
        for run in self.runs.values():
            run.finish()
        self.runs = {}


def make_logger(trackers: str | Sequence[str], logdir: str | os.PathLike = "runs",
                run_name: str = "ppo_jax", **kwargs: Any) -> list[Logger]:
    """Loggers by tracker name ("jsonl", "tensorboard", "wandb"), all writing under `logdir`:
    `<logdir>/metrics.jsonl`, `<logdir>/tensorboard/<run_name>/`, `<logdir>/wandb/` (W&B's
    mode from WANDB_MODE, default online). `kwargs` (population, every) go to each logger.

    Raises ValueError for an unknown name (the valid ones are listed) and ImportError
    naming the `track` extra for a missing package, before anything compiles.
    """
    names = [trackers] if isinstance(trackers, str) else list(trackers)
    unknown = [n for n in names if n not in TRACKERS]
    if unknown or not names:
        raise ValueError(f"unknown tracker {unknown[0] if unknown else names!r}; valid trackers: "
                         f"{', '.join(TRACKERS)}")
    logdir = os.fspath(logdir)
    build = {
        "jsonl": lambda: JsonlLogger(os.path.join(logdir, "metrics.jsonl"), run_name=run_name,
                                     **kwargs),
        "tensorboard": lambda: TensorBoardLogger(os.path.join(logdir, "tensorboard"),
                                                 run_name=run_name, **kwargs),
        "wandb": lambda: WandbLogger(mode=os.environ.get("WANDB_MODE", "online"),
                                     dir=os.path.join(logdir, "wandb"), run_name=run_name, **kwargs),
    }
    return [build[n]() for n in dict.fromkeys(names)]


# --- the bound logger: what the compiled program's callback calls ---------------------------
class BoundLogger:
    """Loggers bound to a population's agents and metric columns: the callback's sink.

    Called on the host with rows float32 [*population, 2 + len(columns)]
    ([agent id, update, *metrics]); writes each logger's curves, and flushes
    them every `flush_secs` and at the run's last update, so a tracker shows the
    curves while training runs.
    Rows whose id is past the known agents (a sweep's padding) are dropped.
    """

    def __init__(self, loggers: tuple[Logger, ...], columns: tuple[str, ...], agents: Agents | None,
                 hparams: tuple):
        self.loggers, self.columns, self.agents, self.hparams = loggers, columns, agents, hparams
        self.every = min(logger.every for logger in loggers)
        self._pending: dict[tuple[str, int], dict[int, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"BoundLogger({', '.join(map(repr, self.loggers))})"

    def _identify(self, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(agent index, row) pairs: the row's id, or its position when the id is -1."""
        out = []
        for position, row in enumerate(rows):
            index = int(row[0]) if row[0] >= 0 else position
            if self.agents is None or index < len(self.agents.names):
                out.append((index, row))
        return out

    def _describe(self, index: int, count: int) -> tuple[str, str, tuple]:
        """(curve name, group name, hparams) of agent `index` of `count`."""
        if self.agents is not None:
            return self.agents.names[index], self.agents.groups[index], self.agents.hparams[index]
        return ("agent" if count == 1 else f"agent{index}"), "population", self.hparams

    def _values(self, row: np.ndarray) -> dict[str, float]:
        return {k: float(v) for k, v in zip(self.columns, row[2:]) if math.isfinite(v)}

    def __call__(self, rows: np.ndarray) -> None:
        # A sweep's static groups run as separate programs whose callbacks may come from
        # several threads at once; they can share loggers (and files).
        with _WRITE_LOCK:
            self._write(np.asarray(rows, np.float64).reshape(-1, 2 + len(self.columns)))

    def _write(self, rows: np.ndarray) -> None:
        agents = self._identify(rows)
        per_agent = [lg for lg in self.loggers if lg.population == "agents"]
        for index, row in agents:
            name, _, hp = self._describe(index, len(rows))
            values = self._values(row)
            for logger in per_agent:
                logger.write(name, dict(hp), int(row[1]), int(values.get("timesteps", 0)), values)
        reducing = [lg for lg in self.loggers if lg.population == "reduce"]
        if reducing:
            for group, update, members in self._complete_groups(agents, len(rows)):
                self._write_reduced(reducing, group, update, members)
        for logger in self.loggers:
            logger.maybe_flush()

    def _group_size(self, group: str, count: int) -> int:
        if self.agents is None:
            return count
        return self.agents.groups.count(group)

    def _complete_groups(self, agents, count: int):
        """Groups whose every member has reported this update (rows may arrive per device)."""
        for index, row in agents:
            _, group, _ = self._describe(index, count)
            self._pending.setdefault((group, int(row[1])), {})[index] = row
        done = [key for key, members in self._pending.items()
                if len(members) == self._group_size(key[0], count)]
        for key in done:
            yield key[0], key[1], self._pending.pop(key)

    def _write_reduced(self, loggers, group: str, update: int, members: dict) -> None:
        table = np.stack(list(members.values()))[:, 2:]
        values = {}
        for name, column in zip(self.columns, table.T):
            finite = column[np.isfinite(column)]
            if name == "timesteps" and finite.size:
                values[name] = float(finite.max())
            elif finite.size:
                values.update({f"{name}/mean": float(finite.mean()), f"{name}/min": float(finite.min()),
                               f"{name}/max": float(finite.max())})
        first = min(members)
        hp = {k: v for k, v in (self.agents.hparams[first] if self.agents else self.hparams)
              if k != "seed_index"}
        hp["num_seeds"] = len(members)
        for logger in loggers:
            logger.write(group, hp, update, int(values.get("timesteps", 0)), values)

    def flush(self) -> None:
        """Flushes every logger (`Logger.flush`), under the lock the callbacks write with."""
        with _WRITE_LOCK:
            for logger in self.loggers:
                logger.flush()

    def close(self) -> None:
        """Closes every logger (`Logger.close`), under the lock the callbacks write with."""
        with _WRITE_LOCK:
            for logger in self.loggers:
                logger.close()


LoggerArg = Logger | Sequence[Logger] | BoundLogger | None

_BOUND: dict[tuple, BoundLogger] = {}  # one sink per binding, so a repeated call reuses its compile


def bind_logger(logger: LoggerArg, config, columns: Sequence[str],
                agents: Agents | None = None) -> BoundLogger | None:
    """The sink for `logger=` (None: no logging). A `BoundLogger` is returned as it is.

    `agents` names the rows (default: by position, with `config`'s hyperparameters).
    Raises TypeError for anything but loggers, naming the accepted values.
    """
    if logger is None or isinstance(logger, BoundLogger):
        return logger
    loggers = (logger,) if isinstance(logger, Logger) else tuple(logger) if isinstance(
        logger, (list, tuple)) else None
    if not loggers or not all(isinstance(lg, Logger) for lg in loggers):
        raise TypeError(
            f"logger must be None, a ppo_jax.loggers.Logger (JsonlLogger, TensorBoardLogger, "
            f"WandbLogger) or a list of them, got {logger!r}; tracker names ({', '.join(TRACKERS)}) "
            "become loggers with ppo_jax.loggers.make_logger(names, logdir)")
    key = (loggers, tuple(columns), agents, tuple(config_hparams(config).items()))
    if key not in _BOUND:
        _BOUND[key] = BoundLogger(loggers, tuple(columns), agents, key[3])
    return _BOUND[key]
