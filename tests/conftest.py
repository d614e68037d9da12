"""Shared fixtures: tiny configs and a fast-compiling jit for smoke-sized runs.

Nothing here is autouse: it only provides fixtures that tests ask for by name.
One hook: under CI (the `CI` environment variable set to true, as `.ci/run`
does), a skipped test fails, so that a missing extra or file can never turn
into a silently green run.
"""

from __future__ import annotations

import os

import jax
import pytest

import ppo_jax

# The programs of these tests run for milliseconds but take seconds to
# compile. XLA:CPU's older (non-"fusion emitter") code generator at backend
# optimization level 0 compiles a tiny training run 2-3x faster (measured on
# CartPole, Pendulum and Asterix-MinAtar) and computes the same thing.
FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}


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


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "minatar: smoke runs on MinAtar envs, the slowest to compile (CI runs them; "
        "-m 'not minatar' skips them locally)",
    )


@pytest.fixture
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
