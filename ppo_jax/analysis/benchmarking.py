"""Benchmark plumbing shared by the scripts that measure results and speed.

Three parts, each used by several scripts in `scripts/`:

- Provenance: what was measured and where (`git_state`, `source_digest`,
  `package_versions`, `cpu_model`, `machine_info`, `device_info`).
- Timing: `Clock` (wall and process-CPU laps) and `time_alternating` (timed
  runs of several programs in alternating order, so that load changes on a
  shared machine hit all of them alike); `append_jsonl` for result rows.
- Results folders: `write_manifest` / `read_manifest`, the `manifest.json`
  that every folder of `scripts/results/` has (what it measures, the command,
  the commit, the date, the machine or device, the versions and its files).

Imports only numpy and the standard library; JAX is imported inside the
functions that need it (`device_info`, and `time_alternating`'s default wait).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ppo_jax.util.files import atomic_write

# The packages whose versions a measurement records.
VERSION_PACKAGES = ("jax", "jaxlib", "flax", "optax", "gymnax", "distrax", "chex", "numpy",
                    "torch", "stable-baselines3", "gymnasium")
MANIFEST = "manifest.json"
# The keys of a results folder's manifest.json, in the order written.
MANIFEST_KEYS = ("experiment", "command", "commit", "commit_source", "date", "machine", "device",
                 "versions", "files")

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the ppo_jax package folder


# ---------------------------------------------------------------- provenance


def package_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str | None]:
    """Versions of Python and of the installed `packages` (None for a missing one).

    Args:
      packages: distribution names, as pip knows them.

    Returns:
      {"python": "3.x.y", name: version or None, ...}.
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=30,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The commit measured, and whether the ppo_jax sources differed from it.

    Args:
      path: a folder inside the git checkout; default: the one holding the
        imported ppo_jax package (an editable install's working tree).

    Returns:
      {"commit": full hash or None (not a git checkout, or no git),
      "ppo_jax_dirty": True if `git status` lists changes under ppo_jax/,
      None where unknown}.
    """
    where = Path(path) if path is not None else PACKAGE_DIR
    commit = _git(where, "rev-parse", "HEAD")
    status = _git(where, "status", "--porcelain", "--", str(PACKAGE_DIR)) if commit else None
    return {"commit": commit, "ppo_jax_dirty": bool(status) if status is not None else None}


def short_commit(git: Mapping[str, Any] | None) -> str | None:
    """A `git_state` record as a manifest writes it: "abc1234", "abc1234 (dirty)" or None."""
    if not git or not git.get("commit"):
        return None
    return git["commit"][:7] + (" (dirty)" if git.get("ppo_jax_dirty") else "")


def source_digest() -> str:
    """Short hash (12 hex digits) of the ppo_jax sources this process imports.

    Every `*.py` file under the package, by relative path and content: the
    library may change between runs of one commit (a dirty working tree).
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_info() -> dict[str, Any]:
    """Host facts, without starting JAX (`device_info` reports the accelerator).

    Returns:
      cpu_model, cpu_count, cpu_affinity (cores this process may use),
      memory_gib, platform, versions (`package_versions`), git (`git_state`),
      xla_flags and jax_platforms (the environment variables) and
      loadavg_start (the 1, 5 and 15 minute load averages now).
    """
    try:
        mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2.0 ** 30
    except (ValueError, OSError, AttributeError):
        mem_total = None
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": mem_total,
        "platform": platform.platform(),
        "versions": package_versions(),
        "git": git_state(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "jax_platforms": os.environ.get("JAX_PLATFORMS"),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def device_info() -> dict[str, Any]:
    """JAX's first device: {"platform": "cpu"/"gpu"/"tpu", "kind": its name, "count": devices}.

    Starts JAX's backend if it has not started yet.
    """
    import jax

    dev = jax.devices()[0]
    return {"platform": dev.platform, "kind": dev.device_kind, "count": jax.device_count()}


def describe_machine(machine: Mapping[str, Any] | None = None) -> str:
    """One line for a manifest's "machine": "2-core CPU (model), 126 GiB".

    Args:
      machine: a `machine_info` record; default: this machine's.
    """
    machine = machine_info() if machine is None else machine
    cores = machine.get("cpu_affinity") or machine.get("cpu_count")
    memory = machine.get("memory_gib")
    return f"{cores}-core CPU ({machine.get('cpu_model')})" + (f", {memory:.0f} GiB" if memory else "")


def describe_device(device: Mapping[str, Any]) -> str:
    """One line for a manifest's "device", from a `device_info` record: "1 x NVIDIA H200 (gpu)"."""
    return f"{device.get('count', 1)} x {device.get('kind')} ({device.get('platform')})"


# ---------------------------------------------------------------- timing


def wall_and_cpu() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds over all threads), for differences."""
    return time.perf_counter(), time.process_time()


class Clock:
    """Laps of wall and process-CPU time: `lap()` -> the seconds since the last lap.

    Args:
      now: the time source, () -> (wall, cpu); default `wall_and_cpu`.

    Examples:
      >>> ticks = iter([(0.0, 0.0), (2.0, 1.5)])
      >>> Clock(lambda: next(ticks)).lap()
      (2.0, 1.5)
    """

    def __init__(self, now: Callable[[], tuple[float, float]] = wall_and_cpu):
        self.now = now
        self.last = now()

    def lap(self) -> tuple[float, float]:
        """(wall, CPU) seconds since the previous lap (or since the clock was made)."""
        now = self.now()
        wall, cpu = now[0] - self.last[0], now[1] - self.last[1]
        self.last = now
        return wall, cpu


def alternating_order(names: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of each round's runs: forwards, then backwards, ... (A B C, C B A, A B C)."""
    names = list(names)
    return [names if r % 2 == 0 else names[::-1] for r in range(rounds)]


def time_alternating(
    programs: Mapping[str, tuple[Callable, Sequence[Any]]],
    rounds: int,
    *,
    wait: Callable[[Any], Any] | None = None,
    now: Callable[[], tuple[float, float]] = wall_and_cpu,
    on_run: Callable[[int, str, float, float], None] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Times `rounds` runs of each program, alternating their order every round.

    The order is A B C, then C B A, ... (`alternating_order`), so that load
    changes on a shared machine hit every program alike. Compile and warm up
    the programs first: every run here is timed.

    Args:
      programs: {name: (function, args)}; a run is `wait(function(*args))`.
      rounds: runs of each program.
      wait: called on each run's output before the clock stops; default
        `jax.block_until_ready` (JAX dispatches asynchronously).
      now: the time source, () -> (wall, cpu); default `wall_and_cpu`.
      on_run: called after every run as on_run(round, name, wall_s, cpu_s).

    Returns:
      ({name: [wall seconds per round]}, {name: [CPU seconds per round]}).

    Examples:
      >>> wall, cpu = time_alternating({"a": (abs, (-1,)), "b": (abs, (2,))}, 2, wait=lambda out: out)
      >>> [len(wall["a"]), len(cpu["b"])]
      [2, 2]
    """
    if wait is None:
        import jax

        wait = jax.block_until_ready
    wall: dict[str, list[float]] = {name: [] for name in programs}
    cpu: dict[str, list[float]] = {name: [] for name in programs}
    for r, order in enumerate(alternating_order(list(programs), rounds)):
        for name in order:
            function, args = programs[name]
            start = now()
            wait(function(*args))
            end = now()
            wall[name].append(end[0] - start[0])
            cpu[name].append(end[1] - start[1])
            if on_run is not None:
                on_run(r, name, wall[name][-1], cpu[name][-1])
    return wall, cpu


def append_jsonl(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Appends `record` as one JSON line to `path` (its folder made if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


# ---------------------------------------------------------------- results folders


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that is running, as a shell line: "python scripts/x.py --flag value".

    Args:
      argv: default `sys.argv`; a script path inside the working directory is
        written relative to it.
    """
    argv = list(sys.argv if argv is None else argv)
    if argv:
        script = Path(argv[0])
        try:
            argv[0] = script.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except (ValueError, OSError):
            pass
    return shlex.join(["python", *argv])


def write_manifest(
    folder: str | os.PathLike,
    *,
    experiment: str,
    files: Mapping[str, str],
    command: str | Mapping[str, str] | None = None,
    commit: str | Mapping[str, str] | None = None,
    commit_source: str | None = None,
    date: str | Mapping[str, str] | None = None,
    machine: str | Mapping[str, Any] | None = None,
    device: str | Mapping[str, Any] | None = None,
    versions: Mapping[str, Any] | str | None = None,
    merge: bool = True,
    **extra: Any,
) -> Path:
    """Writes `folder/manifest.json`, the record of how a results folder was made.

    The format of every `scripts/results/*/manifest.json`: experiment,
    command, commit (and commit_source), date, machine and/or device,
    versions, files ({file name: one-line description}), then any `extra`
    keys (e.g. notes). What is not given is filled in from this process.

    Args:
      folder: the results folder (made if missing).
      experiment: what the folder measures, in a sentence.
      files: {file name relative to `folder`: what it holds}.
      command: the command that regenerates the files; default `command_line()`.
      commit: default this checkout's commit (`short_commit(git_state())`).
      commit_source: where `commit` comes from; default: the working tree
        when the manifest was written.
      date: default today, YYYY-MM-DD.
      machine: a description or a `machine_info` record; default this
        machine's (`describe_machine`).
      device: a description or a `device_info` record; left out if None.
      versions: default `package_versions()`.
      merge: keep the file entries of an existing manifest for files still in
        `folder` (a folder filled by several runs keeps listing every file).
      **extra: more keys, written after the standard ones.

    Returns:
      The path of the manifest written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    all_files, kept = dict(files), {}
    if merge and path.exists():
        try:
            previous = read_manifest(folder)
        except (OSError, ValueError):
            previous = {}
        old = previous.get("files", {})
        if isinstance(old, dict):
            all_files = {**{name: what for name, what in old.items() if (folder / name).exists()},
                         **all_files}
        if "notes" in previous and "notes" not in extra:  # notes written by hand stay
            kept["notes"] = previous["notes"]
    if commit is None:
        commit = short_commit(git_state()) or "not recorded"
        commit_source = commit_source or "the git checkout of ppo_jax when the manifest was written"
    if isinstance(machine, Mapping):
        machine = describe_machine(machine)
    if isinstance(device, Mapping):
        device = describe_device(device)
    manifest: dict[str, Any] = {
        "experiment": experiment,
        "command": command if command is not None else command_line(),
        "commit": commit,
        "commit_source": commit_source,
        "date": date if date is not None else datetime.date.today().isoformat(),
        "machine": machine if machine is not None else describe_machine(),
        "device": device,
        "versions": dict(versions) if isinstance(versions, Mapping)
        else versions if versions is not None else package_versions(),
        "files": all_files,
    }
    manifest = {key: value for key, value in manifest.items() if value is not None}
    manifest.update({**kept, **extra})
    text = json.dumps(manifest, indent=2) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """`folder/manifest.json` as a dict (`folder` may also be the file itself)."""
    path = Path(folder)
    if path.is_dir():
        path = path / MANIFEST
    return json.loads(path.read_text())
