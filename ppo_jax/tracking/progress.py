"""Live progress from inside a jitted (and vmapped) train function.

Training is one jitted call that may run for minutes, so progress has to come
out of the compiled program: at the end of every update, a
`jax.debug.callback` hands a few scalars to a host-side hook.

One report per update, whatever the population. Under `jax.vmap`,
`jax.debug.callback` would be unrolled into one callback per seed. Instead
the values are summarised on device with a `jax.custom_batching.custom_vmap`
rule: each vmap level (seeds, then the configurations of a sweep) reduces its
axis (sum, count, min, max) before the callback, so the host is called once
per update with the population's totals, already reduced across devices.

    train = ppo_jax.make_train(config, progress=True)        # a tqdm bar
    train = ppo_jax.make_train(config, progress=my_hook)     # any callable
    train = ppo_jax.make_train(config)                       # off: no callback compiled

A hook is any callable taking a `ProgressReport`; an `every` attribute (an
int, or None for about 200 reports per run; default 1) thins the reports,
with the last update always reported. `ProgressBar` is the hook the library
provides: one tqdm bar (text in a terminal, a widget in a notebook where
ipywidgets is installed) with updates done of total, env steps per second
over the whole population, the population's mean return and, with
evaluation during training (`eval_every`), the latest mean evaluation return.

Loggers (`ppo_jax.loggers`) ride the same callback: the same host call also
carries one row of metrics per agent, so a progress bar and any number of
loggers together still cost one host call per reported update.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
import warnings
from collections.abc import Callable
from typing import IO, Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap


@dataclasses.dataclass(frozen=True)
class ProgressReport:
    """What a hook receives once per update, for the whole (vmapped) population.

    Attributes:
      update: updates done so far (the furthest agent; all agents of one call agree).
      total_updates: updates in the full run (`config.num_updates`).
      timesteps: env steps per agent so far (`update * config.batch_size`).
      num_agents: agents reporting: seeds, or configurations x seeds in a sweep.
      mean_return: mean over agents of `episode_return` for this update (NaN
        when no agent completed an episode in this update's rollout).
      min_return: the lowest agent's return (NaN when none).
      max_return: the highest agent's return (NaN when none).
      num_returning: agents that completed at least one episode this update.
      mean_eval_return: mean over the agents evaluated at this update of their
        `eval_return` (NaN when no evaluation ran at this update).
      num_evaluated: agents evaluated at this update (0 without evaluation).
      num_diverged: agents whose params or losses are non-finite after this
        update (their `diverged` metric; 0 for a healthy run).
    """

    update: int
    total_updates: int
    timesteps: int
    num_agents: int
    mean_return: float
    min_return: float
    max_return: float
    num_returning: int
    mean_eval_return: float = math.nan
    num_evaluated: int = 0
    num_diverged: int = 0

    @property
    def env_steps(self) -> int:
        """Env steps so far, summed over the population."""
        return self.timesteps * self.num_agents


class ProgressHook(Protocol):
    def __call__(self, report: ProgressReport) -> None: ...


# The `progress=` argument: None/False (off), True (a ProgressBar) or a hook.
Progress = bool | ProgressHook | None


# --- device side ---------------------------------------------------------------------
# A summary is one float32 vector that reduces over any number of vmap levels:
# [update (max), timesteps (max), return sum, returning agents, return min, return max, agents,
#  eval return sum, evaluated agents, diverged agents].
# One vector rather than ten scalars: each callback argument costs a host transfer.
_REDUCERS = ("max", "max", "sum", "sum", "min", "max", "sum", "sum", "sum", "sum")
SUMMARY_SIZE = len(_REDUCERS)
_EVALUATED = 8  # index of the evaluated-agents count: an update with an evaluation is always reported


def agent_summary(update_step: jax.Array, timesteps: jax.Array, episode_return: jax.Array,
                  eval_return: jax.Array = jnp.nan, diverged: jax.Array = 0.0) -> jax.Array:
    """One agent's summary, float32 [SUMMARY_SIZE] (its reductions combine across agents)."""
    finite = jnp.isfinite(episode_return)
    evaluated = jnp.isfinite(eval_return)
    return jnp.stack([
        jnp.asarray(update_step, jnp.float32),
        jnp.asarray(timesteps, jnp.float32),
        jnp.where(finite, episode_return, 0.0).astype(jnp.float32),
        finite.astype(jnp.float32),
        jnp.where(finite, episode_return, jnp.inf).astype(jnp.float32),
        jnp.where(finite, episode_return, -jnp.inf).astype(jnp.float32),
        jnp.ones((), jnp.float32),
        jnp.where(evaluated, eval_return, 0.0).astype(jnp.float32),
        evaluated.astype(jnp.float32),
        jnp.asarray(diverged, jnp.float32),
    ])


def reduce_summaries(summaries: jax.Array) -> jax.Array:
    """[B, SUMMARY_SIZE] -> [SUMMARY_SIZE]: the summary of all B agents together."""
    ops = {"max": jnp.max, "min": jnp.min, "sum": jnp.sum}
    return jnp.stack([ops[kind](summaries[:, i], axis=0) for i, kind in enumerate(_REDUCERS)])


def make_report(summary, total_updates: int) -> ProgressReport:
    """The host-side `ProgressReport` of a reduced summary [SUMMARY_SIZE]."""
    (update, timesteps, ret_sum, ret_count, ret_min, ret_max, num_agents, eval_sum,
     eval_count, diverged) = np.asarray(summary).tolist()
    count, evaluated = int(ret_count), int(eval_count)
    return ProgressReport(
        update=int(update),
        total_updates=total_updates,
        timesteps=int(round(timesteps)),
        num_agents=int(num_agents),
        mean_return=ret_sum / count if count else math.nan,
        min_return=ret_min if count else math.nan,
        max_return=ret_max if count else math.nan,
        num_returning=count,
        mean_eval_return=eval_sum / evaluated if evaluated else math.nan,
        num_evaluated=evaluated,
        num_diverged=int(diverged),
    )


def _call_safely(hook, *args) -> None:
    """Calls a host-side hook; a failure warns once and never ends a long run."""
    try:
        hook(*args)
    except Exception as err:  # a display or disk problem must not end a long run
        if not getattr(hook, "_ppo_jax_warned", False):
            warnings.warn(f"progress hook {hook!r} failed: {err!r}; training continues",
                          RuntimeWarning, stacklevel=2)
            try:
                hook._ppo_jax_warned = True
            except AttributeError:
                pass


def is_due(update: int, every: int, total_updates: int, evaluated: bool) -> bool:
    """Whether a consumer reporting every `every` updates takes this update (host side)."""
    return update % every == 0 or update >= total_updates or evaluated


def _deliver(hook, sink, total_updates: int, summary, rows) -> None:
    """Host side of the one callback: the progress hook and the metric sink, each if due."""
    report = make_report(summary, total_updates)
    evaluated = report.num_evaluated > 0
    if hook is not None and is_due(report.update, report_every(hook, total_updates), total_updates,
                                   evaluated):
        _call_safely(hook, report)
    if sink is not None and is_due(report.update, report_every(sink, total_updates), total_updates,
                                   evaluated):
        _call_safely(sink, np.asarray(rows))
        if report.update >= total_updates:  # the run's end: everything visible now
            _call_safely(sink.flush)


AUTO_REPORTS = 200  # `every=None`: about this many reports per run


def report_every(hook: ProgressHook, total_updates: int) -> int:
    """Updates between two reports: the hook's `every` attribute (default 1; None: auto)."""
    every = getattr(hook, "every", 1)
    if every is None:
        return max(1, math.ceil(total_updates / AUTO_REPORTS))
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"progress hook {hook!r}: every must be a positive int or None, got {every!r}")
    return every


def make_emitter(hook: ProgressHook | None, total_updates: int, sink=None) -> Callable:
    """emit(summary [SUMMARY_SIZE], rows [R] = empty) -> dummy: one host call per reported update.

    Unbatched, it is a `jax.debug.callback` under a `lax.cond` that lets
    through every update due for the progress `hook` or the metric `sink`
    (each reports every `report_every(., total)` updates, plus the last update
    and every update with an evaluation). Under `jax.vmap` its rule reduces the
    summary's mapped axis and stacks the rows (one per agent, for loggers), and
    calls itself again, so nested vmaps reduce level by level, the callback
    stays single, and the cond's predicate (the update count) is never batched.
    The host receives rows of shape [*population, R].
    """
    callback = functools.partial(_deliver, hook, sink, total_updates)
    everies = [report_every(c, total_updates) for c in (hook, sink) if c is not None]

    def call(payload):
        jax.debug.callback(callback, *payload)

    @custom_vmap
    def emit(summary, rows):
        if everies == [1]:
            call((summary, rows))
        else:
            update = summary[0]
            due = (update >= total_updates) | (summary[_EVALUATED] > 0)
            for every in everies:
                due = due | (jnp.mod(update, every) == 0)
            jax.lax.cond(due, call, lambda _: None, (summary, rows))
        return jnp.zeros((), jnp.int32)

    @emit.def_vmap
    def emit_vmap(axis_size, in_batched, summary, rows):
        if in_batched[0]:
            reduced = reduce_summaries(summary)
        else:  # the same summary for every element: sums scale with the axis size
            is_sum = np.array([kind == "sum" for kind in _REDUCERS])
            reduced = jnp.where(is_sum, summary * axis_size, summary)
        if not in_batched[1]:
            rows = jnp.broadcast_to(rows, (axis_size,) + rows.shape)
        return emit(reduced, rows), False

    def emit_rows(summary, rows=None):
        return emit(summary, jnp.zeros((0,), jnp.float32) if rows is None else rows)

    return emit_rows


def with_progress(body: Callable, hook: ProgressHook | None, total_updates: int, sink=None,
                  agent_rows: Callable | None = None) -> Callable:
    """Wraps an update scan body `(state, x) -> (state, metrics)` to report after each update.

    `sink` (a bound logger, `ppo_jax.loggers`) receives `agent_rows(state, metrics)`
    (float32 [R], one agent's row) for the whole population in the same callback.
    """
    emit = make_emitter(hook, total_updates, sink)

    def body_with_progress(state, x):
        state, metrics = body(state, x)
        rows = agent_rows(state, metrics) if sink is not None else None
        emit(agent_summary(state.update_step, metrics["timesteps"], metrics["episode_return"],
                           metrics.get("eval_return", jnp.nan), metrics.get("diverged", 0.0)), rows)
        return state, metrics

    return body_with_progress


def resolve_progress(progress) -> ProgressHook | None:
    """`progress=` argument -> hook or None. True: a new `ProgressBar`; None/False: off."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return ProgressBar()
    if callable(progress):
        return progress
    raise TypeError(
        f"progress must be None, True, False or a callable taking a ProgressReport, got {progress!r}"
    )


# --- host side -----------------------------------------------------------------------
def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell else None
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _tqdm_class(backend: str):
    """tqdm's notebook widget in Jupyter when ipywidgets is installed, text otherwise."""
    if backend == "notebook" or (backend == "auto" and _in_notebook()):
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm
            return tqdm
        except ImportError:
            pass
    from tqdm.std import tqdm
    return tqdm


def format_count(x: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


class ProgressBar:
    """A `ProgressHook` drawing one tqdm bar per run: updates, env steps/s, mean return.

    Reusable: a report whose update is below the last one seen (a new call of
    the same jitted function) closes the old bar and opens a new one; the bar
    closes itself when `total_updates` is reached. Chunked runs (resume,
    checkpoints) keep one bar because `update` keeps growing across chunks.

    Args:
      desc: label in front of the bar.
      every: updates between two reports; None (default): about 200 reports
        per run (each report is a device-to-host callback, which on an
        accelerator briefly stalls the program).
      backend: "auto" (notebook widget in Jupyter if possible, else text),
        "text" or "notebook".
      file: stream for the text bar (default stderr).
      **tqdm_kwargs: passed to tqdm (e.g. `leave=False`, `mininterval=1.0`).
    """

    def __init__(self, desc: str = "training", every: int | None = None, backend: str = "auto",
                 file: IO[str] | None = None, **tqdm_kwargs: Any) -> None:
        if backend not in ("auto", "text", "notebook"):
            raise ValueError(f"ProgressBar backend must be auto, text or notebook, got {backend!r}")
        self.desc = desc
        self.every = every
        self.backend = backend
        self.file = file
        self.tqdm_kwargs = {"mininterval": 0.25, "dynamic_ncols": True, **tqdm_kwargs}
        self.bar = None
        self.last: ProgressReport | None = None
        self.last_eval_return = math.nan  # the latest evaluation's mean return (NaN: none yet)
        self.warned_divergence = False  # the divergence line is printed once per bar
        self._start: tuple[float, int] | None = None  # (time, env steps) at the bar's first report

    def __repr__(self) -> str:
        return f"ProgressBar(desc={self.desc!r})"

    def _open(self, report: ProgressReport) -> None:
        tqdm = _tqdm_class(self.backend)
        self.bar = tqdm(total=report.total_updates, initial=report.update, desc=self.desc,
                        unit="upd", file=self.file, **self.tqdm_kwargs)
        self._start = (time.perf_counter(), report.env_steps)

    def steps_per_second(self, report: ProgressReport) -> float:
        """Population env steps per second since this bar's first report (NaN at first)."""
        if self._start is None:
            return math.nan
        elapsed = time.perf_counter() - self._start[0]
        return (report.env_steps - self._start[1]) / elapsed if elapsed > 0 else math.nan

    def postfix(self, report: ProgressReport) -> str:
        """The text after the bar: mean return, latest eval return, agents, diverged agents, steps/s.

        Parts that do not apply (no evaluation yet, one agent, none diverged, no rate yet) are left out.
        """
        sps = self.steps_per_second(report)
        ret = "n/a" if math.isnan(report.mean_return) else f"{report.mean_return:.1f}"
        parts = [f"return {ret}"]
        if not math.isnan(self.last_eval_return):
            parts.append(f"eval {self.last_eval_return:.1f}")
        if report.num_agents > 1:
            parts.append(f"{report.num_agents} agents")
        if report.num_diverged:
            parts.append(f"DIVERGED {report.num_diverged}")
        if not math.isnan(sps) and sps > 0:
            parts.append(f"{format_count(sps)} steps/s")
        return " | ".join(parts)

    def __call__(self, report: ProgressReport) -> None:
        if self.bar is not None and self.last is not None and report.update < self.last.update:
            self.close()
        if self.bar is None:
            self._open(report)
            self.last_eval_return = math.nan
            self.warned_divergence = False
        self.last = report
        if report.num_evaluated:
            self.last_eval_return = report.mean_eval_return
        if report.num_diverged and not self.warned_divergence:
            self.warned_divergence = True
            self.bar.write(f"{self.desc}: {report.num_diverged} of {report.num_agents} agent(s) "
                           f"diverged (non-finite params or losses) by update {report.update}; "
                           "their final return is -inf", file=self.file)
        if report.update > self.bar.total:  # run past the schedule's end: grow the bar
            self.bar.total = report.update
        step = report.update - self.bar.n
        self.bar.set_postfix_str(self.postfix(report), refresh=False)
        if step > 0:
            self.bar.update(step)
        if report.update == report.total_updates:
            self.close()

    def close(self) -> None:
        """Closes the current bar (if any); the next report opens a new one."""
        if self.bar is not None:
            self.bar.close()
        self.bar = None


