"""Shared fixtures: tiny configs, a fast-compiling jit for smoke-sized runs, and
the scripts in scripts/ loaded as modules (the command line itself is ppo_jax.cli).

Nothing here is autouse: it only provides fixtures that tests ask for by name.
Two hooks: the longest files are collected first (LONGEST_FIRST); and under
CI (the `CI` environment variable set to true, as `.ci/run` does), a skipped
test fails, so that a missing extra or file can never turn into a silently
green run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import ppo_jax
from ppo_jax.tracking.progress import ProgressReport

# The tests compare float32 maths against references at float32 tolerances. On
# NVIDIA GPUs JAX's default precision runs float32 matrix products in TF32 (10
# mantissa bits), which moved a GRU's outputs by 4e-4 from flax's cell on an H200;
# full float32 makes a GPU run check what a CPU run checks. Set on GPUs only, so
# that CPU runs (CI) compile exactly the programs users run.
if jax.default_backend() == "gpu":
    jax.config.update("jax_default_matmul_precision", "highest")

# The programs of these tests run for milliseconds but take seconds to
# compile. XLA:CPU's older (non-"fusion emitter") code generator at backend
# optimization level 0 compiles a tiny training run 2-3x faster (measured on
# CartPole, Pendulum and Asterix-MinAtar) and computes the same thing.
FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}


class RecordingHook:
    """A progress hook that keeps every report: `hook.reports`."""

    def __init__(self, every: int = 1):
        self.every = every
        self.reports: list[ProgressReport] = []

    def __call__(self, report: ProgressReport) -> None:
        self.reports.append(report)


def tiny_config(
    env: str = "CartPole-v1",
    *,
    num_updates: int = 2,
    num_envs: int = 2,
    num_steps: int = 8,
    num_minibatches: int = 2,
    update_epochs: int = 1,
    hidden_sizes: tuple[int, ...] = (16,),
    **overrides,
) -> ppo_jax.PPOConfig:
    """A PPOConfig of exactly `num_updates` updates of num_envs x num_steps."""
    return ppo_jax.PPOConfig(
        env=env,
        total_timesteps=num_updates * num_envs * num_steps,
        num_envs=num_envs,
        num_steps=num_steps,
        num_minibatches=num_minibatches,
        update_epochs=update_epochs,
        hidden_sizes=hidden_sizes,
        **overrides,
    )


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and running_in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


# --- CI guard, collection: a module skipped while it is collected -------------------
# A module-level `pytest.importorskip` (or `pytest.skip(allow_module_level=True)`)
# skips the whole file at collection, where pytest_runtest_makereport never runs:
# under CI that skipped collect report becomes a collection error.
@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and running_in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"
# --- end of the collection guard ------------------------------------------------------


# The files with the longest tests, longest first. Under `-n 2 --dist loadfile`
# (pyproject) each worker takes the next file in collection order, so putting these
# first keeps one long file from running alone at the end (longest-first scheduling).
LONGEST_FIRST = ("test_recurrent_learning.py", "test_suites_learning.py", "test_learning.py",
                 "test_pbt.py", "test_recurrent.py", "test_env_protocol.py", "test_eval_training.py",
                 "test_notebook.py", "test_divergence.py", "test_sweep.py", "test_objectives.py",
                 "test_presets.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "minatar: smoke runs on MinAtar envs, the slowest to compile (CI runs them; "
        "-m 'not minatar' skips them locally)",
    )


@pytest.fixture(scope="session")
def make_tiny_config():
    """Factory fixture: make_tiny_config(env=..., num_updates=..., **PPOConfig fields)."""
    return tiny_config


def jit_fast(fn, **jit_kwargs):
    """`jax.jit` with FAST_COMPILE on the CPU backend (plain `jax.jit` elsewhere):
    for programs that compile much longer than they run."""
    options = FAST_COMPILE if jax.default_backend() == "cpu" else None
    return jax.jit(fn, compiler_options=options, **jit_kwargs)


@pytest.fixture
def fast_jit():
    """The `jit_fast` function, as a fixture."""
    return jit_fast


SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load_script(name: str):
    """scripts/<name>.py as a fresh module (not installed, so loaded from its file)."""
    spec = importlib.util.spec_from_file_location(f"ppo_jax_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.fixture(scope="session")
def load_script():
    """load_script(name) -> scripts/<name>.py as a module."""
    return _load_script


class CompileCounter:
    """Counts XLA backend compiles (of anything) while active, from jax's monitoring events."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs) -> None:
        self.count += event == self.EVENT

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def run_on_four_cpu_devices(script: str) -> dict:
    """Runs `script` in a fresh Python with 4 forced CPU devices; its last stdout line, as JSON.

    Device count is fixed when jax starts, so multi-device checks need their own process."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
