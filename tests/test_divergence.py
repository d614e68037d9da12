"""Divergence is visible, never averaged away.

A run whose params or losses become non-finite keeps acting (a Categorical's
argmax over NaN logits is action 0: CartPole then scores about 9 a episode),
so without a flag it looks like a poor but valid run. These tests check the
per-update `diverged` metric, that a diverged run's final return is -inf (not
a NaN that a nanmean drops), the ranking of a sweep, and that a diverged agent
is refused where it would act.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax import SweepResult, TrainOutput
from ppo_jax.analysis.statistics import bootstrap_ci, diverged_runs, final_return
from ppo_jax.core.iteration import is_diverged

# An absurd step size: Adam's steps are ~lr each, so params overflow within an update.
ABSURD_LR = 1e30
UPDATES = 6


def finite_loss_metrics() -> dict:
    return {"policy_loss": jnp.float32(0.1), "value_loss": jnp.float32(2.0), "grad_norm": jnp.float32(0.5)}


# ------------------------------------------------------------------ the metric ---


def test_is_diverged_flags_any_non_finite_param_or_loss():
    params = {"a": jnp.ones((3, 2)), "b": {"c": jnp.zeros(4)}}
    assert float(is_diverged(params, finite_loss_metrics())) == 0.0
    for leaf_path in ("a", "c"):
        for bad in (jnp.nan, jnp.inf, -jnp.inf):
            broken = jax.tree_util.tree_map_with_path(
                lambda p, x, bad=bad, leaf_path=leaf_path: x.at[0].set(bad) if str(p[-1].key) == leaf_path else x,
                params)
            assert float(is_diverged(broken, finite_loss_metrics())) == 1.0, (leaf_path, bad)
    for name in ("policy_loss", "value_loss", "grad_norm"):
        assert float(is_diverged(params, {**finite_loss_metrics(), name: jnp.float32(jnp.nan)})) == 1.0


@pytest.fixture(scope="module")
def absurd_and_sane(make_tiny_config):
    """Two seeds each of a sane and an absurd learning rate, CartPole, a few updates."""
    config = make_tiny_config("CartPole-v1", num_updates=UPDATES)
    sane = ppo_jax.train_seeds(config, num_seeds=2, seed=0)
    absurd = ppo_jax.train_seeds(config.replace(learning_rate=ABSURD_LR), num_seeds=2, seed=0)
    return config, sane, absurd


def test_training_flags_divergence_per_update(absurd_and_sane):
    _, sane, absurd = absurd_and_sane
    np.testing.assert_array_equal(np.asarray(sane.metrics["diverged"]), 0.0)
    flags = np.asarray(absurd.metrics["diverged"])
    assert flags.shape == (2, UPDATES)
    assert np.all(flags[:, -1] == 1.0)
    # the params really are non-finite, and the flag stays up once raised (NaN never recovers)
    assert not np.all(np.isfinite(jax.tree.leaves(absurd.state.params)[0]))
    for row in flags:
        first = int(np.argmax(row))
        assert np.all(row[first:] == 1.0)


def test_a_diverged_run_still_reports_finite_returns_which_is_why_the_flag_exists(absurd_and_sane):
    """The NaN policy acts (action 0), episodes end: episode_return alone would hide it."""
    _, _, absurd = absurd_and_sane
    returns = np.asarray(absurd.metrics["episode_return"])
    assert np.all(np.isfinite(returns[:, -1]))
    np.testing.assert_array_equal(absurd.final_return(), -np.inf)


def test_train_output_repr_says_which_agents_diverged(absurd_and_sane):
    _, sane, absurd = absurd_and_sane
    assert "DIVERGED" not in repr(sane)
    text = repr(absurd)
    assert "DIVERGED: 2 of 2 agent(s) (agents [0, 1]) diverged" in text


def test_a_diverged_agent_is_refused_where_it_would_act(absurd_and_sane):
    config, sane, absurd = absurd_and_sane
    one = lambda out: jax.tree.map(lambda x: x[0], out.state)
    ppo_jax.make_policy(config, one(sane))  # a sane agent is fine
    for make in (ppo_jax.make_policy, ppo_jax.make_value_fn):
        with pytest.raises(ValueError, match=r"diverged: its params/.* hold NaN or inf"):
            make(config, one(absurd))
    with pytest.raises(ValueError, match="evaluate: this agent diverged"):
        ppo_jax.evaluate(config, one(absurd), jax.random.key(0), num_episodes=2)


# ------------------------------------------------------- final return and ranking ---


def test_final_return_of_a_diverged_run_is_minus_inf_and_nan_still_means_no_episode():
    returns = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [np.nan] * 4])
    diverged = np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(final_return(returns, diverged=diverged), [4.0, -np.inf, np.nan])
    np.testing.assert_array_equal(final_return(returns), [4.0, 8.0, np.nan])  # without the flag
    # a sweep row NaN-padded past its end: only the run's own updates count
    np.testing.assert_array_equal(diverged_runs(diverged, num_updates=1), [False, False, False])
    np.testing.assert_array_equal(final_return(returns, 1, diverged), [1.0, 5.0, np.nan])


def test_bootstrap_ci_with_a_diverged_seed_is_minus_inf_below_and_finite_above():
    """Seeds [10, 12, -inf, 11]: the mean is -inf; resamples without the diverged seed
    (probability (3/4)^4 = 32%) have finite means, so the upper bound is finite; the
    lower bound is -inf. Interpolating next to -inf would give NaN."""
    samples = np.array([10.0, 12.0, -np.inf, 11.0])[:, None]
    mean, low, high = bootstrap_ci(samples, num_resamples=4000)
    assert mean[0] == -np.inf and low[0] == -np.inf
    assert 10.0 <= high[0] <= 12.0
    # without infinities the interval is the plain linear-percentile one
    finite = np.array([10.0, 12.0, 9.0, 11.0])[:, None]
    _, low, high = bootstrap_ci(finite, num_resamples=4000)
    assert 9.0 <= low[0] < 10.5 < high[0] <= 12.0


def sweep_result(final_by_config: list[list[float]], diverged_by_config: list[list[bool]]) -> SweepResult:
    """A SweepResult with one-update runs of the given returns and divergence flags."""
    config = ppo_jax.PPOConfig(num_envs=4, num_steps=16, num_minibatches=2, total_timesteps=64)
    ret = np.asarray(final_by_config, np.float32)[..., None]
    flags = np.asarray(diverged_by_config, np.float32)[..., None]
    n = len(final_by_config)
    lrs = [1e-4 * (i + 1) for i in range(n)]
    return SweepResult(configs=tuple(config.replace(learning_rate=lr) for lr in lrs),
                       settings=tuple({"learning_rate": lr} for lr in lrs),
                       metrics={"episode_return": ret, "diverged": flags}, seed=0, num_compiles=1)


def test_summary_ranks_configurations_with_diverged_seeds_last_by_count():
    result = sweep_result(
        [[50.0, 60.0], [400.0, 9.0], [100.0, 120.0], [9.0, 9.0]],
        [[False, False], [False, True], [False, False], [True, True]])
    summary = result.summary(num_resamples=500)
    assert summary["config"].tolist() == [2, 0, 1, 3]
    assert summary["diverged"].tolist() == [0, 0, 1, 2]
    assert summary["final_return"].tolist()[2:] == [-np.inf, -np.inf]
    # config 1's surviving seed scored 400, the best of all: it must not win
    assert result.best() is result.configs[2]
    assert "configuration 2" in repr(result)


def test_a_diverged_configuration_ranks_below_one_with_no_finished_episode():
    """NaN (no episode ended in the window) is unknown; -inf (diverged) is a failure."""
    result = sweep_result([[9.0, 9.0], [np.nan, np.nan]], [[True, True], [False, False]])
    assert result.summary(num_resamples=100)["config"].tolist() == [1, 0]


def test_best_refuses_when_every_configuration_diverged():
    result = sweep_result([[9.0], [9.0]], [[True], [True]])
    with pytest.raises(ValueError, match="every configuration has a diverged seed"):
        result.best()
    assert "every configuration has a diverged seed" in repr(result)
    with pytest.raises(ValueError, match="among the configurations that did not diverge"):
        sweep_result([[9.0], [np.nan]], [[True], [False]]).best()


def test_a_sweep_ranks_an_absurd_learning_rate_last(make_tiny_config):
    """The issue's test: a diverging configuration planted in a real sweep ranks last."""
    config = make_tiny_config("CartPole-v1", num_updates=4 * UPDATES)
    result = ppo_jax.sweep(config, {"learning_rate": [2.5e-4, ABSURD_LR, 1e-3]}, num_seeds=2, seed=0)
    summary = result.summary(num_resamples=500)
    assert summary["learning_rate"].iloc[-1] == ABSURD_LR
    assert summary["diverged"].tolist() == [0, 0, 2]
    assert summary["final_return"].iloc[-1] == -np.inf
    assert np.all(np.isfinite(summary["final_return"].iloc[:2]))
    assert result.best().hparams.learning_rate != ABSURD_LR
    np.testing.assert_array_equal(result.diverged(), [[False, False], [True, True], [False, False]])


def test_cli_summary_prints_the_divergence():
    from ppo_jax.cli.train import summarize

    metrics = {"episode_return": np.array([[20.0, 21.0], [9.0, 9.0]]),
               "diverged": np.array([[0.0, 0.0], [0.0, 1.0]])}
    line = summarize(metrics)
    assert "DIVERGED: 1 of 2 agent(s) (agents [1]) diverged" in line
    assert "first at update 2" in line
    assert "DIVERGED" not in summarize({**metrics, "diverged": np.zeros((2, 2))})


def test_train_output_without_the_metric_still_works():
    """Metrics saved before the flag existed (old metrics.npz) have no `diverged`."""
    out = TrainOutput(state=None, metrics={"episode_return": np.array([[1.0, 2.0]])})
    np.testing.assert_array_equal(out.final_return(), [2.0])


def test_progress_reports_count_diverged_agents_and_the_bar_says_so(make_tiny_config):
    """The progress callback carries how many agents diverged; the bar prints one line.

    One hook for both runs (it records the reports and draws a bar into a fresh
    stream per run): the learning rate is traced, so both runs share one compile."""
    import io

    from conftest import RecordingHook

    from ppo_jax.tracking.progress import ProgressBar

    class RecordAndDraw(RecordingHook):
        def __init__(self):
            super().__init__()
            self.text = io.StringIO()
            self.bar = ProgressBar(file=self.text)

        def new_run(self):
            self.reports, self.text = [], io.StringIO()
            self.bar = ProgressBar(file=self.text)

        def __call__(self, report):
            super().__call__(report)
            self.bar(report)

    config = make_tiny_config("CartPole-v1", num_updates=UPDATES)
    hook = RecordAndDraw()
    out = ppo_jax.train_seeds(config.replace(learning_rate=ABSURD_LR), num_seeds=2, seed=0, progress=hook)
    expected = np.asarray(out.metrics["diverged"]).sum(axis=0)  # agents diverged, per update
    assert [r.num_diverged for r in hook.reports] == expected.astype(int).tolist()
    assert hook.reports[-1].num_diverged == 2
    text = hook.text.getvalue()
    assert text.count("diverged (non-finite params or losses)") == 1
    assert "2 of 2 agent(s) diverged" in text and "DIVERGED 2" in text

    hook.new_run()
    ppo_jax.train_seeds(config, num_seeds=2, seed=0, progress=hook)
    assert [r.num_diverged for r in hook.reports] == [0] * UPDATES
    assert "diverged" not in hook.text.getvalue().lower()
