"""Run folders: a population trained in chunks, checkpointed, resumable, stopped cleanly by a signal.

    result = ppo_jax.train_run(config, "runs/cartpole", num_seeds=8, checkpoint_every=50)
    result.metrics["episode_return"]              # [8, updates done]; also in runs/cartpole/metrics.npz
    result = ppo_jax.resume_run("runs/cartpole")  # after an interruption: on from the latest checkpoint
    result = ppo_jax.resume_run("runs/cartpole", total_timesteps=2_000_000)   # extend the run
    result = ppo_jax.load_run("runs/cartpole")    # read it back (another kernel, a plot), no training

A run folder holds:

    config.json          the run's PPOConfig (PPOConfig.from_dict reads it back)
    run.json             num_seeds, seed, updates done, checkpoint settings, status, wall time
    metrics.csv          tidy: one row per (seed, update), one column per metric
    metrics.npz          raw arrays, one per metric: float32 [num_seeds, updates done]
    checkpoint/          the population's TrainState and config: the `keep_checkpoints` latest
                         saves (`ppo_jax.load(".../checkpoint")` reads the latest)
    learning_curve.png   with plot=True: return against env steps, and training diagnostics

Training runs in chunks of `checkpoint_every` updates (the whole run when 0),
aligned to multiples of it. After each chunk, metrics.npz, metrics.csv and
run.json are replaced atomically (`ppo_jax.util.files.atomic_write`), and then
the checkpoint is saved: an orbax step written to a temporary folder and renamed
into place only once complete. The checkpoint is the commit point: it never
runs ahead of the metrics, a step being written is never read as a good one,
and a resume keeps the metrics up to the checkpoint's update only. So after any
interruption, even a `kill -9` in the middle of a save, a resumed run holds
every update exactly once and ends with the params and metrics of a run that
never stopped (the same programs run on the same states).

Signals: while a run trains in the main thread, SIGTERM (a scheduler's
preemption, `kill`) and SIGINT (Ctrl-C, a notebook's interrupt button) ask it to
stop. It finishes the current chunk, saves it as above and returns a
`RunResult` with `interrupted` True, instead of dying mid-chunk. A second
signal meets the handler that was installed before the run (Ctrl-C:
`KeyboardInterrupt`; SIGTERM by default: the process ends at once), and the
previous handlers are restored when the run returns. Outside the main thread
no handler is installed (Python allows them only there).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd  # noqa: F401  (to_dataframe's return type, resolved by typing.get_type_hints)
from jax.sharding import Mesh

from ppo_jax.checkpoint import CheckpointError, checkpoint_info, load, save
from ppo_jax.config.config import STATIC_FIELDS, PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams
from ppo_jax.core.iteration import METRIC_NAMES
from ppo_jax.core.types import TrainState
from ppo_jax.outputs import TrainOutput
from ppo_jax.parallel.mesh import to_host
from ppo_jax.tracking.agents import seed_agents
from ppo_jax.tracking.loggers import LoggerArg, bind_logger
from ppo_jax.tracking.progress import Progress, ProgressBar, resolve_progress
from ppo_jax.train import Population, make_population, population_layout, seed_keys
from ppo_jax.util.checks import check_bool, check_integer, check_positive_int
from ppo_jax.util.files import atomic_write, is_temporary, remove

CHECKPOINT_DIR = "checkpoint"
# Everything a run writes into its folder: overwrite=True removes exactly these (and the
# temporary siblings an interrupted write left), and they mark a folder as holding a run.
RUN_FILES = ("config.json", "run.json", "metrics.csv", "metrics.npz", "learning_curve.png", CHECKPOINT_DIR)
# The signals that stop a run after its current chunk.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# What an interrupted orbax save leaves inside checkpoint/ (never read as a checkpoint).
_ORBAX_TEMPORARY = re.compile(r"\.orbax-checkpoint-tmp")


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class RunResult:
    """A run folder's population: what `train_run` and `resume_run` return, and `load_run` reads.

    Attributes:
      path: the run folder.
      config: the run's `PPOConfig`; its budget `config.num_updates` is the run's end.
      state: the population's `TrainState`, leaves [num_seeds, ...]: the state of the
        latest checkpoint (`ppo_jax.load(result.checkpoint)` reads the same).
      metrics: per-update metrics of every update done so far: float32 numpy arrays
        [num_seeds, updates_done], as in metrics.npz.
      num_seeds: agents in the population.
      seed: seed i got the key `jax.random.split(jax.random.key(seed), num_seeds)[i]`.
      stopped_by: the signal that stopped this call before its target ("SIGTERM" or
        "SIGINT"), or None.
    """

    path: str
    config: PPOConfig
    state: TrainState
    metrics: dict[str, np.ndarray]
    num_seeds: int
    seed: int
    stopped_by: str | None = None

    @property
    def updates_done(self) -> int:
        """Updates done so far (the furthest agent; all agents of a run agree)."""
        return int(np.max(np.asarray(self.state.update_step)))

    @property
    def interrupted(self) -> bool:
        """Whether a signal stopped the call early; its last chunk is saved, `resume_run` continues it."""
        return self.stopped_by is not None

    @property
    def finished(self) -> bool:
        """Whether every update of the budget is done (`updates_done == config.num_updates`)."""
        return self.updates_done >= self.config.num_updates

    @property
    def checkpoint(self) -> str:
        """The checkpoint folder, `<path>/checkpoint` (`ppo_jax.load` reads its latest save)."""
        return os.path.join(self.path, CHECKPOINT_DIR)

    @property
    def output(self) -> TrainOutput:
        """The population as a `TrainOutput` (state and metrics), as `train_seeds` returns it."""
        return TrainOutput(state=self.state, metrics=self.metrics)

    def final_return(self) -> np.ndarray:
        """float [num_seeds]: each agent's final return (`TrainOutput.final_return`)."""
        return self.output.final_return()

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy pandas frame, one row per (seed, update): the contents of metrics.csv."""
        return self.output.to_dataframe()

    def __repr__(self) -> str:
        """Folder, progress and the `TrainOutput` summary (shapes, final return)."""
        status = ("interrupted by " + self.stopped_by if self.interrupted else
                  "finished" if self.finished else "stopped early (resumable)")
        head = (f"RunResult({self.path!r}: {self.updates_done}/{self.config.num_updates} updates "
                f"of {self.config.env}, {status})")
        return head + "\n" + repr(self.output)


# --- public entry points -----------------------------------------------------------------
def train_run(config: PPOConfig, out: str | os.PathLike, *, num_seeds: int = 1, seed: int = 0,
              checkpoint_every: int = 0, keep_checkpoints: int = 3, resume: bool = False,
              overwrite: bool = False, max_updates: int | None = None, progress: Progress = None,
              logger: LoggerArg = None, devices: Sequence | Mesh | None = None, plot: bool = False,
              command: Sequence[str] | None = None) -> RunResult:
    """Trains `num_seeds` agents of `config` into the run folder `out`, in checkpointed chunks.

    The population is `ppo_jax.train_seeds(config, num_seeds, seed)`'s (seed i gets
    `jax.random.split(jax.random.key(seed), num_seeds)[i]`), trained with
    `ppo_jax.make_population` in chunks of `checkpoint_every` updates; after each
    chunk the metrics and a checkpoint are written (see the module docstring for the
    folder and the write order). SIGTERM or SIGINT stops the run after the current
    chunk, saved: the result then has `interrupted` True.

    Every argument is checked before anything is compiled or written.

    Args:
      config: the run's `PPOConfig` (an env id; custom env instances are not supported).
      out: the run folder. A folder that already holds a run (any of `RUN_FILES`) is
        refused unless `resume` or `overwrite` is given; other files in it are left alone.
      num_seeds: agents trained at once (vmapped, one compile).
      seed: the population's seed.
      checkpoint_every: updates per chunk: metrics and a checkpoint are saved every
        `checkpoint_every` updates and at the end; 0 (default): at the end only, one
        chunk (then a signal stops the run only once it is done).
      keep_checkpoints: how many of the latest checkpoints `out/checkpoint` keeps (>= 1).
      resume: continue the run in `out` if there is one (`config`, `num_seeds` and `seed`
        must equal its own; a larger `config.total_timesteps` extends it), else start it:
        the same call starts a run and, run again after an interruption, continues it.
        A finished run is returned as it is.
      overwrite: replace the run in `out`: its files are removed first.
      max_updates: stop after this many updates in this call (a checkpoint is saved;
        continue with `resume_run`); None: run to the end of the budget.
      progress: None/False (off), True (a progress bar) or a hook taking a
        `ppo_jax.ProgressReport`, as in `ppo_jax.make_trainer`.
      logger: a `ppo_jax.loggers.Logger` or a list of them: one curve per seed, as in
        `ppo_jax.train_seeds`. They are flushed after every chunk, and not closed.
      devices: the devices to train on (None: the default device), laid out as
        `ppo_jax.train_seeds(..., devices=)` does: seeds over as many as divide
        `num_seeds`, each seed's env groups (`config.data_parallel`) over the rest; or
        a (members x groups) `Mesh` (`ppo_jax.parallel.mesh.population_mesh`), passed
        to `ppo_jax.make_population` as it is.
      plot: also write learning_curve.png at the end of the call.
      command: the command line that started the run, recorded in run.json (`argv`).

    Returns:
      A `RunResult`: the folder, config, the population's state and every update's metrics.

    Raises:
      ValueError: a bad argument (named), or a folder that holds a run and neither
        `resume` nor `overwrite`, or (with `resume`) a run made with other settings.
      TypeError: `config` is not a `PPOConfig`.
      ppo_jax.CheckpointError: with `resume`, the run's checkpoint cannot be read.

    Examples:
      A run a batch job (or a notebook cell) can repeat after any interruption:

      ```python
      config = ppo_jax.preset("Pendulum-v1")
      result = ppo_jax.train_run(config, "runs/pendulum", num_seeds=8, checkpoint_every=50,
                                 resume=True)      # starts the run, or continues it
      result.interrupted                           # True if SIGTERM/Ctrl-C stopped it (saved)
      result.metrics["episode_return"]             # [8, updates done]
      ```
    """
    where = "train_run"
    if not isinstance(config, PPOConfig):
        raise TypeError(f"{where}: config must be a PPOConfig, got {type(config).__name__}")
    num_seeds = check_positive_int(num_seeds, "num_seeds", where)
    seed = check_integer(seed, "seed", where)
    checkpoint_every, keep_checkpoints, max_updates = _check_counts(
        where, checkpoint_every, keep_checkpoints, max_updates)
    resume, overwrite = check_bool(resume, "resume", where), check_bool(overwrite, "overwrite", where)
    if resume and overwrite:
        raise ValueError(f"{where}: overwrite=True replaces a run and resume=True continues one: give one")
    out = _check_folder(where, out)
    if resume and _has_checkpoint(out):
        info = run_info(out)
        _check_same_run(where, info, config, num_seeds, seed)
        if info["updates_done"] >= config.num_updates:
            return load_run(out)
        return _continue(out, info, config, checkpoint_every, keep_checkpoints, max_updates,
                         progress, logger, devices, plot, command)
    if max_updates == 0:
        raise ValueError(f"{where}: max_updates must be 1 or more for a new run, got 0")
    program = _Program.build(config, num_seeds, progress, logger, devices)  # bad progress/logger: before any write
    _check_clear(where, out, replace=overwrite or resume)
    _sync("ppo_jax.runs: every process checked the folder")  # before process 0 changes it
    if _writer():
        _clear(out)
    plan = _Plan(out, config, num_seeds, seed, checkpoint_every, keep_checkpoints,
                 _target(config, 0, max_updates), 0.0, _command(command))
    return _execute(plan, program, None, None, plot)


def resume_run(out: str | os.PathLike, *, total_timesteps: int | None = None, max_updates: int | None = None,
               checkpoint_every: int | None = None, keep_checkpoints: int | None = None,
               progress: Progress = None, logger: LoggerArg = None, devices: Sequence | Mesh | None = None,
               plot: bool = False, command: Sequence[str] | None = None) -> RunResult:
    """Continues the run in `out` from its latest checkpoint, with its saved config and seeds.

    The metrics are kept up to the checkpoint's update and the rest is trained as
    `train_run` does: the finished run equals one that never stopped. With a larger
    `total_timesteps` the run is extended: the learning rate is then annealed over the
    new budget from the resume point on (`ppo_jax.core.iteration.learning_rate_at`).

    Args:
      out: a run folder written by `train_run` (or `ppo-jax train`).
      total_timesteps: a new, larger budget (None: the run's own).
      max_updates: stop after this many updates in this call; None: run to the end.
      checkpoint_every: updates per chunk (None: the run's own setting).
      keep_checkpoints: checkpoints kept (None: the run's own setting).
      progress: as in `train_run`.
      logger: as in `train_run`.
      devices: as in `train_run`.
      plot: also write learning_curve.png at the end of the call.
      command: the command line, recorded in run.json (`argv`).

    Returns:
      A `RunResult`, as `train_run`'s.

    Raises:
      ppo_jax.CheckpointError: `out` holds no run (no complete checkpoint), or its
        checkpoint or metrics cannot be read.
      ValueError: a bad argument (named), a smaller `total_timesteps`, or a run with no
        update left (the message says which budget to pass).
    """
    where = "resume_run"
    checkpoint_every, keep_checkpoints, max_updates = _check_counts(
        where, checkpoint_every, keep_checkpoints, max_updates, optional=True)
    out = _check_folder(where, out)
    try:
        info = run_info(out)
    except CheckpointError as err:
        raise CheckpointError(f"{where}: no run to resume in {out!r}: {err}") from err
    config = _extended(where, out, info, total_timesteps)
    every = info["checkpoint_every"] if checkpoint_every is None else checkpoint_every
    keep = info["keep_checkpoints"] if keep_checkpoints is None else keep_checkpoints
    return _continue(out, info, config, every, keep, max_updates, progress, logger, devices, plot, command)


def load_run(out: str | os.PathLike) -> RunResult:
    """Reads the run in `out` back: its config, the latest checkpoint's state, the metrics up to it.

    Nothing is trained or written.

    Args:
      out: a run folder written by `train_run` (or `ppo-jax train`).

    Returns:
      A `RunResult` (`stopped_by` None).

    Raises:
      ppo_jax.CheckpointError: `out` holds no complete checkpoint, or its files cannot be read.
    """
    out = os.fspath(out)
    info = run_info(out)
    state, metrics = _load_progress(out, info)
    return RunResult(out, info["config"], state, metrics, info["num_seeds"], info["seed"])


def run_info(out: str | os.PathLike) -> dict[str, Any]:
    """What the run folder `out` holds, read from its latest checkpoint, without loading arrays.

    Args:
      out: a run folder written by `train_run` (or `ppo-jax train`).

    Returns:
      A dict: `config` (the run's `PPOConfig`: the checkpoint's, or config.json's where a
      run extended to a larger budget stopped before its first new checkpoint),
      `num_seeds`, `seed`, `updates_done` (the checkpoint's update), `checkpoint_every`,
      `keep_checkpoints`, `status` (run.json's: "running", "stopped", "interrupted" or
      "finished", as of its last save), `wall_time_s` (training time so far) and
      `checkpoint` (`ppo_jax.checkpoint_info` of the latest checkpoint).

    Raises:
      ppo_jax.CheckpointError: `out` holds no complete checkpoint, or it cannot be read.
    """
    out = os.fspath(out)
    info = checkpoint_info(os.path.join(out, CHECKPOINT_DIR))  # a clear error if there is none
    meta, run = info["metadata"], _read_json(os.path.join(out, "run.json")) or {}
    batch = info["batch_shape"]
    if len(batch) != 1:
        raise CheckpointError(f"{out!r}: its checkpoint holds a state of batch shape {batch}, not a "
                              "population [num_seeds]: not a run folder's checkpoint")
    return {
        "config": _run_config(out, info["config"]),
        "num_seeds": int(batch[0]),
        "seed": int(meta.get("seed", run.get("seed", 0))),
        "updates_done": int(info["update_step"]),
        "checkpoint_every": int(meta.get("checkpoint_every", run.get("checkpoint_every", 0))),
        "keep_checkpoints": int(meta.get("keep_checkpoints", run.get("keep_checkpoints", 3))),
        "status": run.get("status"),
        "wall_time_s": float(run.get("wall_time_s", 0.0)),
        "checkpoint": info,
    }


# --- checks --------------------------------------------------------------------------------
def _check_counts(where: str, checkpoint_every, keep_checkpoints, max_updates,
                  optional: bool = False) -> tuple[int | None, int | None, int | None]:
    """checkpoint_every >= 0, keep_checkpoints >= 1, max_updates >= 0 or None (each None if optional)."""
    checked = []
    for name, value, low, meaning in (
            ("checkpoint_every", checkpoint_every, 0, "0 or more (0: a checkpoint at the end only)"),
            ("keep_checkpoints", keep_checkpoints, 1, "1 or more"),
            ("max_updates", max_updates, 0, "0 or more, or None (run to the end)")):
        if value is None and (optional or name == "max_updates"):
            checked.append(None)
            continue
        value = check_integer(value, name, where)
        if value < low:
            raise ValueError(f"{where}: {name} must be {meaning}, got {value}")
        checked.append(value)
    return tuple(checked)


def _check_folder(where: str, out) -> str:
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"{where}: out must be a folder path (str or os.PathLike), got {out!r}")
    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"{where}: out {out!r} exists and is not a folder")
    return out


def _has_checkpoint(out: str) -> bool:
    """Whether `out/checkpoint` holds a complete orbax step (a folder named by its number)."""
    folder = os.path.join(out, CHECKPOINT_DIR)
    return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


def _run_entries(out: str) -> list[str]:
    """The entries of `out` that a run writes (and their interrupted writes' temporaries)."""
    if not os.path.isdir(out):
        return []
    return sorted(name for name in os.listdir(out) if name in RUN_FILES or is_temporary(name, RUN_FILES))


def _check_clear(where: str, out: str, replace: bool) -> None:
    """A fresh run's folder holds no run's files, unless they are to be replaced."""
    found = _run_entries(out)
    if found and not replace:
        raise ValueError(
            f"{where}: out {out!r} already holds a run ({', '.join(found)}); pass resume=True to "
            "continue it (or call resume_run), overwrite=True to replace it, or choose another out")


def _clear(out: str) -> None:
    """Removes a previous run's files from `out` (other files stay)."""
    for name in _run_entries(out):
        remove(os.path.join(out, name))


def _check_same_run(where: str, info: dict, config: PPOConfig, num_seeds: int, seed: int) -> None:
    """resume=True continues the saved run unchanged, but for a larger budget."""
    saved = info["config"]
    changed = [name for name in STATIC_FIELDS
               if name != "total_timesteps" and getattr(config, name) != getattr(saved, name)]
    changed += [name for name in HPARAM_FIELDS
                if float(getattr(config.hparams, name)) != float(getattr(saved.hparams, name))]
    changed += [name for name, value in (("num_seeds", num_seeds), ("seed", seed)) if value != info[name]]
    if changed:
        shown = ", ".join(f"{name} (run: {_saved_value(info, name)!r}, given: "
                          f"{_given_value(config, num_seeds, seed, name)!r})" for name in changed)
        raise ValueError(f"{where}: resume=True continues the run in its folder unchanged (only a larger "
                         f"total_timesteps extends it); these settings differ from it: {shown}")
    if config.total_timesteps < saved.total_timesteps:
        raise ValueError(f"{where}: total_timesteps {config.total_timesteps} is smaller than the run's "
                         f"{saved.total_timesteps}: a run can be extended, not shortened (max_updates "
                         "stops one early)")


def _saved_value(info: dict, name: str):
    if name in ("num_seeds", "seed"):
        return info[name]
    config = info["config"]
    return getattr(config.hparams, name) if name in HPARAM_FIELDS else getattr(config, name)


def _given_value(config: PPOConfig, num_seeds: int, seed: int, name: str):
    if name in ("num_seeds", "seed"):
        return {"num_seeds": num_seeds, "seed": seed}[name]
    return getattr(config.hparams, name) if name in HPARAM_FIELDS else getattr(config, name)


def _extended(where: str, out: str, info: dict, total_timesteps) -> PPOConfig:
    """The resumed run's config: the saved one, with a larger total_timesteps if given."""
    saved, done = info["config"], info["updates_done"]
    config = saved
    if total_timesteps is not None:
        total_timesteps = check_integer(total_timesteps, "total_timesteps", where)
        if total_timesteps < saved.total_timesteps:
            raise ValueError(f"{where}: total_timesteps {total_timesteps} is smaller than the run's "
                             f"{saved.total_timesteps}: a run can be extended, not shortened "
                             "(max_updates stops one early)")
        config = saved.replace(total_timesteps=total_timesteps)
    if done >= config.num_updates:
        raise ValueError(
            f"{where}: the run in {out!r} has done all {done} of its updates (total_timesteps "
            f"{config.total_timesteps}); to continue it, pass a larger total_timesteps, e.g. "
            f"{(done + 1) * config.batch_size} or more (whole updates of {config.batch_size} steps)")
    return config


def _target(config: PPOConfig, done: int, max_updates: int | None) -> int:
    """The update count this call stops at."""
    return config.num_updates if max_updates is None else min(config.num_updates, done + max_updates)


def _command(command) -> tuple[str, ...] | None:
    return None if command is None else tuple(str(word) for word in command)


# --- reading a run back -----------------------------------------------------------------------
def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _run_config(out: str, saved: PPOConfig) -> PPOConfig:
    """The checkpoint's config, or config.json's if that only extends its budget.

    A call extending a run writes config.json first; if it is killed before its first
    checkpoint, the checkpoint still holds the old budget, and the extension holds."""
    data = _read_json(os.path.join(out, "config.json"))
    try:
        written = PPOConfig.from_dict(data) if data is not None else None
    except Exception:  # an unreadable config.json: the checkpoint's config is the run's
        return saved
    if written is not None and written.total_timesteps > saved.total_timesteps and \
            written.replace(total_timesteps=saved.total_timesteps) == saved:
        return written
    return saved


def _load_progress(out: str, info: dict) -> tuple[TrainState, dict[str, np.ndarray]]:
    """The population state of the latest checkpoint, and the metrics up to its update."""
    _, state = load(os.path.join(out, CHECKPOINT_DIR), info["config"])
    done = info["updates_done"]
    path = os.path.join(out, "metrics.npz")
    try:
        with np.load(path) as data:
            metrics = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{out!r}: cannot read metrics.npz ({type(err).__name__}: {err})") from err
    short = [k for k, v in metrics.items() if v.ndim != 2 or v.shape[1] < done]
    if short or not metrics:
        raise CheckpointError(f"{out!r}: metrics.npz holds fewer updates than the checkpoint ({done})")
    return state, {k: v[:, :done] for k, v in metrics.items()}


# --- training -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Plan:
    """One call's run: where, what, and the update count it stops at."""

    out: str
    config: PPOConfig
    num_seeds: int
    seed: int
    checkpoint_every: int
    keep_checkpoints: int
    target: int
    elapsed: float  # training time of the calls before this one (s)
    command: tuple[str, ...] | None


def _continue(out: str, info: dict, config: PPOConfig, checkpoint_every: int, keep_checkpoints: int,
              max_updates: int | None, progress, logger, devices, plot: bool, command) -> RunResult:
    """Loads the run's latest checkpoint and metrics and trains on to the target."""
    program = _Program.build(config, info["num_seeds"], progress, logger, devices)
    state, metrics = _load_progress(out, info)
    _sync("ppo_jax.runs: every process read the run")  # before process 0 tidies the folder
    if _writer():
        _remove_temporaries(out)
    plan = _Plan(out, config, info["num_seeds"], info["seed"], checkpoint_every, keep_checkpoints,
                 _target(config, info["updates_done"], max_updates), info["wall_time_s"], _command(command))
    return _execute(plan, program, state, metrics, plot)


def _remove_temporaries(out: str) -> None:
    """What interrupted writes left: `<file>.tmp-<pid>` beside the run files, orbax's temporary steps."""
    for name in os.listdir(out):
        if is_temporary(name, RUN_FILES):
            remove(os.path.join(out, name))
    folder = os.path.join(out, CHECKPOINT_DIR)
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if _ORBAX_TEMPORARY.search(name):
            remove(os.path.join(folder, name))


@functools.lru_cache(maxsize=1)
def _progress_bar() -> ProgressBar:
    """The one bar of `progress=True` (one hook, so repeated runs reuse their compile)."""
    return ProgressBar(desc="training")


@functools.lru_cache(maxsize=8)
def _population(static_config: PPOConfig, hook, sink, devices: tuple | None) -> Population:
    """The population's jitted init and run, cached per static config, hook, logger and devices."""
    return make_population(static_config, progress=hook, logger=sink, devices=devices)


class _Program(NamedTuple):
    """The population's jitted program (shared between calls of one static config), its hook and logger."""

    population: Population
    hook: Any
    sink: Any

    @classmethod
    def build(cls, config: PPOConfig, num_seeds: int, progress, logger, devices) -> _Program:
        hook = _progress_bar() if progress is True else resolve_progress(progress)
        sink = bind_logger(logger, config, METRIC_NAMES, seed_agents(config, num_seeds))
        if devices is not None and not isinstance(devices, Mesh):  # seeds, then each seed's groups
            devices = population_layout(list(devices), None, num_seeds, config.data_parallel, "train_run")
        return cls(_population(dataclasses.replace(config, hparams=HParams()), hook, sink, devices), hook, sink)


def _execute(plan: _Plan, program: _Program, state: TrainState | None, metrics: dict | None,
             plot: bool) -> RunResult:
    """Writes config.json, then trains chunk by chunk under the signal handlers."""
    config, population = plan.config, program.population
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    os.makedirs(plan.out, exist_ok=True)
    if _writer():
        _write_json(os.path.join(plan.out, "config.json"), config.to_dict())
    start = time.perf_counter()
    try:
        with _StopOnSignal() as stop:
            if state is None:
                state = population.init(jax.random.key_data(seed_keys(plan.seed, plan.num_seeds)), hparams)
            state, metrics = _train_chunks(plan, population, hparams, state, metrics, program.sink, stop,
                                           start)
    finally:
        if isinstance(program.hook, ProgressBar):
            program.hook.close()
    stopped_by = stop.signal if _updates_done(state) < plan.target else None
    if plot and _writer():
        _plot(plan.out, config, metrics)
    return RunResult(plan.out, config, state, metrics, plan.num_seeds, plan.seed, stopped_by)


def _train_chunks(plan: _Plan, population: Population, hparams: HParams, state: TrainState,
                  metrics: dict | None, sink, stop: _StopOnSignal, start: float) -> tuple[TrainState, dict]:
    """Chunks aligned to multiples of checkpoint_every, each saved, until the target or a signal."""
    done = _updates_done(state)
    every = plan.checkpoint_every or plan.config.num_updates
    saved = None  # the status run.json holds
    while done < plan.target and not stop.requested():
        n = min(every - done % every, plan.target - done)
        state, new = population.run(state, hparams, n)
        metrics = _concat(metrics, {k: to_host(v).astype(np.float32) for k, v in new.items()})
        done += n
        if sink is not None:
            sink.flush()
        saved = _status(plan, done, stop)
        _save_progress(plan, state, metrics, done, saved, time.perf_counter() - start)
    if _status(plan, done, stop) != saved and _writer():  # a signal during the last save, or nothing to train
        _write_json(os.path.join(plan.out, "run.json"),
                    _run_json(plan, done, _status(plan, done, stop), time.perf_counter() - start))
    return state, metrics


def _updates_done(state: TrainState) -> int:
    return int(np.max(to_host(state.update_step)))


def _host_leaf(x):
    """A leaf of a state spread over several processes, whole on this host as numpy; keys
    stay global arrays (orbax writes those itself, each process its part)."""
    if not isinstance(x, jax.Array) or jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x
    return to_host(x)


def _sync(name: str) -> None:
    """Over several processes: wait until every process gets here (a no-op for one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _writer() -> bool:
    """Whether this process writes the run's files: process 0 of a `jax.distributed` run
    (every process computes the same host values), or the only process."""
    return jax.process_index() == 0


def _concat(old: dict | None, new: dict) -> dict:
    if not old:
        return new
    return {k: np.concatenate([old[k], new[k]], axis=1) for k in new}


def _status(plan: _Plan, done: int, stop: _StopOnSignal) -> str:
    if done >= plan.config.num_updates:
        return "finished"
    if done >= plan.target:
        return "stopped"
    return "interrupted" if stop.signal is not None else "running"


# --- writing ------------------------------------------------------------------------------
def _write_json(path: str, data: dict) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")

    atomic_write(path, write)


def _write_metrics(out: str, metrics: dict[str, np.ndarray]) -> None:
    """metrics.npz (raw [num_seeds, updates]) and metrics.csv (tidy), each replaced atomically."""
    from ppo_jax.analysis.frames import tidy_metrics

    def npz(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **metrics)

    atomic_write(os.path.join(out, "metrics.npz"), npz)
    frame = tidy_metrics(metrics)  # the frame TrainOutput.to_dataframe gives: update counts from 1
    atomic_write(os.path.join(out, "metrics.csv"), lambda tmp: frame.to_csv(tmp, index=False))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ppo_jax")
    except PackageNotFoundError:
        return "unknown"


def _run_json(plan: _Plan, done: int, status: str, seconds: float) -> dict:
    data = {"num_seeds": plan.num_seeds, "seed": plan.seed, "updates_done": done,
            "num_updates": plan.config.num_updates, "status": status,
            "checkpoint_every": plan.checkpoint_every, "keep_checkpoints": plan.keep_checkpoints,
            "wall_time_s": round(plan.elapsed + seconds, 3), "ppo_jax_version": _version()}
    if plan.command is not None:
        data["argv"] = list(plan.command)
    return data


def _save_progress(plan: _Plan, state: TrainState, metrics: dict, done: int, status: str,
                   seconds: float) -> None:
    """Metrics, run.json, then the checkpoint (the commit point): it never runs ahead of the metrics.

    Over several processes, process 0 writes the files and every process takes part in the
    checkpoint's save (orbax's own protocol), with the state gathered to the host."""
    if _writer():
        _write_metrics(plan.out, metrics)
        _write_json(os.path.join(plan.out, "run.json"), _run_json(plan, done, status, seconds))
    if jax.process_count() > 1:
        state = jax.tree.map(_host_leaf, state)
    meta = {"num_seeds": plan.num_seeds, "seed": plan.seed, "checkpoint_every": plan.checkpoint_every,
            "keep_checkpoints": plan.keep_checkpoints}
    save(os.path.join(plan.out, CHECKPOINT_DIR), plan.config, state, metadata=meta,
         keep=plan.keep_checkpoints)


def _plot(out: str, config: PPOConfig, metrics: dict) -> None:
    from ppo_jax.analysis.plots import plot_runs

    atomic_write(os.path.join(out, "learning_curve.png"), lambda tmp: plot_runs(
        [(config.env, config.to_dict(), metrics)], tmp, title=f"{config.env}: episode return", format="png"))


# --- signals ----------------------------------------------------------------------------------
class _StopOnSignal:
    """Within the block (main thread only): the first SIGTERM or SIGINT sets `signal` (its name)
    and puts the previous handlers back, so that a second one acts as it did before the run."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._request_stop)
        return self

    def requested(self) -> bool:
        """Whether a signal asked to stop, here or (over `jax.distributed`) in any process:
        every process stops after the same chunk."""
        if jax.process_count() == 1:
            return self.signal is not None
        from jax.experimental import multihost_utils

        anywhere = bool(np.any(multihost_utils.process_allgather(np.asarray(self.signal is not None))))
        if anywhere and self.signal is None:
            self.signal = "SIGTERM"  # another process was signalled (a preemption reaches them all)
        return anywhere

    def _request_stop(self, signum: int, frame) -> None:
        self.signal = signal.Signals(signum).name
        self._restore()
        # os.write, not print: a handler may run while the main thread is inside a print.
        os.write(2, (f"\nppo_jax: {self.signal}: the run stops after the current chunk, which is "
                     "checkpointed; send it again to stop at once\n").encode())

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def __exit__(self, *exc) -> None:
        self._restore()
