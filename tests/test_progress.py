"""ppo_jax.tracking.progress: one report per update for a whole vmapped population.

The hook is tested, not the terminal: a recording hook checks call counts and
totals. The device-side reduction is tested on a toy scan (cheap to compile)
at vmap depths 0, 1 and 2; one real vmapped trainer (compiled once, run in
chunks) checks the integration, and lowering checks what make_train compiles.
"""

from __future__ import annotations

import io
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import RecordingHook

import ppo_jax
from ppo_jax.tracking.progress import (
    ProgressBar,
    ProgressReport,
    agent_summary,
    make_emitter,
    resolve_progress,
)

CONFIG = ppo_jax.PPOConfig(
    env="CartPole-v1", total_timesteps=4 * 32, num_envs=2, num_steps=16, num_minibatches=2,
    update_epochs=1, hidden_sizes=(8,),
)
NUM_SEEDS = 3


def toy_run(hook, total: int, length: int):
    """A scan that reports agent_summary(step, 10 * step, ret) each step: ret = x + step (NaN if x < 0)."""
    emit = make_emitter(hook, total)

    def run(x):
        def body(step, _):
            step = step + 1
            ret = jnp.where(x < 0, jnp.nan, x + step)
            emit(agent_summary(step, 10.0 * step, ret))
            return step, None

        return jax.lax.scan(body, jnp.zeros((), jnp.int32), None, length=length)[0]

    return run


@pytest.mark.parametrize(
    "name, xs",
    [
        ("single", np.float32(2.0)),
        ("vmap", np.array([1.0, 2.0, 6.0], np.float32)),
        ("vmap_with_nan", np.array([1.0, -1.0, 6.0, -5.0], np.float32)),
        ("nested_vmap", np.array([[1.0, 2.0], [3.0, 10.0], [4.0, -1.0]], np.float32)),
    ],
)
def test_one_report_per_step_at_any_vmap_depth(name, xs):
    hook = RecordingHook()
    run = toy_run(hook, total=4, length=4)
    for _ in range(xs.ndim):
        run = jax.vmap(run)
    jax.block_until_ready(jax.jit(run)(xs))

    assert [r.update for r in hook.reports] == [1, 2, 3, 4], name
    valid = xs[xs >= 0]
    for report in hook.reports:
        step = report.update
        assert report.total_updates == 4
        assert report.timesteps == 10 * step
        assert report.num_agents == xs.size
        assert report.num_returning == valid.size
        assert report.mean_return == pytest.approx(float(np.mean(valid + step)))
        assert report.min_return == pytest.approx(float(np.min(valid + step)))
        assert report.max_return == pytest.approx(float(np.max(valid + step)))
        assert report.env_steps == 10 * step * xs.size


def test_no_returns_gives_nan_not_an_error():
    hook = RecordingHook()
    jax.block_until_ready(jax.jit(jax.vmap(toy_run(hook, 2, 2)))(np.array([-1.0, -2.0], np.float32)))
    assert len(hook.reports) == 2
    assert all(math.isnan(r.mean_return) and r.num_returning == 0 for r in hook.reports)


def test_a_failing_hook_warns_once_and_training_continues():
    calls = []

    def bad_hook(report):
        calls.append(report.update)
        raise RuntimeError("display broke")

    with pytest.warns(RuntimeWarning, match="display broke"):
        out = jax.jit(toy_run(bad_hook, 3, 3))(np.float32(1.0))
        jax.block_until_ready(out)
    assert int(out) == 3 and calls == [1, 2, 3]


@pytest.fixture(scope="module")
def population_reports():
    """A vmapped trainer with a recording hook: 2 + 2 updates, then the same again.

    One compile (init is tiny); chunks check that reports carry absolute update counts.
    """
    hook = RecordingHook()
    trainer = ppo_jax.make_trainer(CONFIG, progress=hook)
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None, None)), static_argnums=2)
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)

    def train():
        state, first = run(init(keys, CONFIG.hparams), CONFIG.hparams, 2)
        state, second = run(state, CONFIG.hparams, 2)
        return jax.block_until_ready(jax.tree.map(lambda a, b: np.concatenate([a, b], 1), first, second))

    metrics = train()
    first = list(hook.reports)
    train()
    return first, list(hook.reports), metrics


def test_train_reports_every_update_with_population_totals(population_reports):
    first, _, metrics = population_reports
    n = CONFIG.num_updates
    assert [r.update for r in first] == list(range(1, n + 1))
    returns = np.asarray(metrics["episode_return"])  # [seeds, updates]
    for i, report in enumerate(first):
        assert report.total_updates == n
        assert report.num_agents == NUM_SEEDS
        assert report.timesteps == (i + 1) * CONFIG.batch_size
        finite = returns[:, i][np.isfinite(returns[:, i])]
        assert report.num_returning == finite.size
        if finite.size:
            assert report.mean_return == pytest.approx(float(finite.mean()), rel=1e-5)
            assert report.max_return == pytest.approx(float(finite.max()), rel=1e-5)


def test_second_call_reports_again(population_reports):
    first, both, _ = population_reports
    assert len(both) == 2 * len(first)
    assert [r.update for r in both[len(first):]] == [r.update for r in first]


def test_off_compiles_no_callback():
    keys = jax.random.split(jax.random.key(0), 2)
    train = jax.vmap(ppo_jax.make_train(CONFIG), in_axes=(0, None))  # progress=None (False: same path)
    assert "callback" not in jax.jit(train).lower(keys, CONFIG.hparams).as_text()
    with_hook = jax.vmap(ppo_jax.make_train(CONFIG, progress=RecordingHook()), in_axes=(0, None))
    text = jax.jit(with_hook).lower(keys, CONFIG.hparams).as_text()
    assert text.count("xla_ffi_python_cpu_callback") + text.count("xla_python_cpu_callback") == 1


def test_resolve_progress():
    assert resolve_progress(None) is None and resolve_progress(False) is None
    assert isinstance(resolve_progress(True), ProgressBar)
    hook = RecordingHook()
    assert resolve_progress(hook) is hook
    with pytest.raises(TypeError, match="progress must be"):
        resolve_progress("yes")


def report(update, total=4, mean=1.0, timesteps=None, agents=2):
    return ProgressReport(update=update, total_updates=total, timesteps=timesteps or 100 * update,
                          num_agents=agents, mean_return=mean, min_return=mean, max_return=mean,
                          num_returning=agents)


def test_progress_bar_one_bar_per_run():
    stream = io.StringIO()
    bar = ProgressBar(backend="text", file=stream, mininterval=0)
    for u in (1, 2, 3):
        bar(report(u, mean=10.0 * u))
    assert bar.bar is not None and bar.bar.n == 3 and bar.bar.total == 4
    assert "return 30.0" in bar.postfix(report(3, mean=30.0)) and "2 agents" in bar.postfix(report(3))
    bar(report(4))
    assert bar.bar is None  # closed at total
    bar(report(1))  # a new call of the same function: a new bar
    assert bar.bar.n == 1
    bar(report(2))
    bar(report(1))  # restarted before finishing: old bar closed, new one opened
    assert bar.bar.n == 1
    bar.close()
    assert "4/4" in stream.getvalue()
    assert "n/a" in bar.postfix(report(1, mean=float("nan")))


def test_progress_bar_resumed_run_starts_at_its_update():
    bar = ProgressBar(backend="text", file=io.StringIO())
    bar(report(7, total=10))
    assert bar.bar.n == 7 and bar.bar.total == 10
    bar.close()


def test_population_sharded_over_devices_reports_once():
    """As in `sweep`: the population axis split over every device, one report per step."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()
    sharding = NamedSharding(Mesh(np.asarray(devices), ("population",)), PartitionSpec("population"))
    xs = np.arange(2 * len(devices), dtype=np.float32)
    hook = RecordingHook()
    run = jax.jit(jax.vmap(toy_run(hook, 3, 3)), out_shardings=sharding)
    jax.block_until_ready(run(jax.device_put(xs, sharding)))
    assert [r.update for r in hook.reports] == [1, 2, 3]
    assert [r.num_agents for r in hook.reports] == [xs.size] * 3
    assert hook.reports[0].mean_return == pytest.approx(float(np.mean(xs + 1)))


@pytest.mark.parametrize("name, every, expected", [("every_2", 2, [2, 4, 5]), ("every_5", 5, [5]),
                                                  ("every_10", 10, [5])])
def test_every_thins_reports_and_keeps_the_last(name, every, expected):
    hook = RecordingHook(every=every)
    run = jax.jit(jax.vmap(jax.vmap(toy_run(hook, total=5, length=5))))
    jax.block_until_ready(run(np.ones((2, 3), np.float32)))
    assert [r.update for r in hook.reports] == expected, name
    assert {r.num_agents for r in hook.reports} == {6}


def test_every_in_a_chunked_run_with_batched_update_counts():
    """A resumed population carries a batched update counter: reports stay every 2nd update."""
    hook = RecordingHook(every=2)
    emit = make_emitter(hook, 6)

    def run(step, x):  # step: this agent's update count, batched like a loaded state's
        def body(step, _):
            step = step + 1
            emit(agent_summary(step, 1.0, x))
            return step, None

        return jax.lax.scan(body, step, None, length=3)[0]

    jax.block_until_ready(jax.jit(jax.vmap(run))(jnp.array([3, 3]), jnp.array([1.0, 2.0])))
    assert [r.update for r in hook.reports] == [4, 6]


def test_auto_every():
    from ppo_jax.tracking.progress import report_every

    assert report_every(ProgressBar(), 976) == 5
    assert report_every(ProgressBar(), 100) == 1
    assert report_every(ProgressBar(every=3), 976) == 3
    assert report_every(lambda r: None, 976) == 1
    with pytest.raises(ValueError, match="every"):
        report_every(RecordingHook(every=0), 10)
