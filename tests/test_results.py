"""Results on the host: update numbering, the one final-return definition, short reprs.

Nothing here trains: the outputs are built from hand-made metrics, so every
number the tests expect can be worked out by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppo_jax
from ppo_jax import SweepResult, TrainOutput
from ppo_jax.analysis.frames import tidy_metrics, update_numbers
from ppo_jax.analysis.statistics import final_return, final_window
from ppo_jax.population.grids import expand_grid


def fake_metrics(batch: tuple[int, ...], num_updates: int, batch_size: int = 64) -> dict:
    """Metrics as train returns them: episode_return of agent a at update u (from 1) is
    a + u; timesteps u * batch_size."""
    agents = np.arange(int(np.prod(batch)), dtype=np.float32).reshape(batch + (1,))
    updates = update_numbers(num_updates).astype(np.float32)
    return {
        "timesteps": np.broadcast_to(updates * batch_size, batch + (num_updates,)).copy(),
        "episode_return": agents + updates,
        "value_loss": np.ones(batch + (num_updates,), np.float32),
    }


# ---------------------------------------------------------------- update numbers ---


def test_tidy_frames_count_updates_from_one():
    frame = tidy_metrics(fake_metrics((2,), 3))
    assert list(frame.columns) == ["seed", "update", "timesteps", "episode_return", "value_loss"]
    assert frame["seed"].tolist() == [0, 0, 0, 1, 1, 1]
    assert frame["update"].tolist() == [1, 2, 3, 1, 2, 3]
    assert frame["timesteps"].tolist() == [64.0 * u for u in (1, 2, 3)] * 2  # timesteps = update * batch
    one = tidy_metrics(fake_metrics((), 3))
    assert list(one.columns[:2]) == ["update", "timesteps"] and one["update"].tolist() == [1, 2, 3]


def test_train_output_frame_is_the_tidy_frame():
    out = TrainOutput(state=None, metrics=fake_metrics((2,), 4))
    frame = out.to_dataframe()
    assert frame.equals(tidy_metrics(out.metrics))
    assert frame.query("seed == 1 and update == 4")["episode_return"].item() == 1 + 4


def test_tidy_frames_refuse_a_grid_shaped_population():
    with pytest.raises(ValueError, match=r"\[num_seeds, num_updates\].*SweepResult.to_dataframe"):
        tidy_metrics(fake_metrics((2, 3), 4))


# ------------------------------------------------------------------ final return ---


@pytest.mark.parametrize("num_updates, window", [(1, 1), (9, 1), (10, 1), (11, 2), (15, 2), (976, 98)])
def test_final_window_is_the_last_tenth_rounded_up(num_updates, window):
    assert final_window(num_updates) == window


def test_final_return_is_the_nanmean_of_the_window():
    returns = np.array([[0.0] * 17 + [1.0, np.nan, 5.0],      # 20 updates: window 2 -> nan, 5
                        [0.0] * 18 + [np.nan, np.nan]])       # no episode in the window
    np.testing.assert_array_equal(final_return(returns), [5.0, np.nan])
    padded = np.concatenate([returns, np.full((2, 5), np.nan)], axis=1)  # a sweep's NaN padding
    np.testing.assert_array_equal(final_return(padded, num_updates=20), [5.0, np.nan])


def test_train_output_final_return_uses_the_definition():
    out = TrainOutput(state=None, metrics=fake_metrics((3,), 15))
    np.testing.assert_array_equal(out.final_return(), [14.5, 15.5, 16.5])  # mean of updates 14, 15


def test_train_cli_summary_uses_the_definition():
    """15 updates: the last 10% is 2 updates (the script used to take 15 // 10 = 1)."""
    from ppo_jax.cli.train import summarize

    summary = summarize(fake_metrics((2,), 15))
    assert "last 2 updates" in summary and "15.0 over 2 seeds" in summary  # mean of 14.5 and 15.5
    assert "min 14.5, max 15.5" in summary


def test_benchmark_final_return_uses_the_definition(load_script):
    """20 updates of 2 agents: the last 10% is 2 updates (the script used to take 10)."""
    benchmark = load_script("benchmark")
    assert benchmark.final_return(fake_metrics((2,), 20)["episode_return"]) == pytest.approx(20.0)
    assert benchmark.final_return(np.full((2, 20), np.nan)) != benchmark.final_return(np.ones((2, 20)))


def test_bench_sweep_final_returns_use_the_definition(load_script):
    """15 updates: the last 10% is 2 updates (the script used to take 15 // 10 = 1)."""
    a = fake_metrics((2, 3), 15)["episode_return"]
    record = load_script("bench_sweep").agreement(a, a)
    assert record["final_return_sweep"] == pytest.approx(np.mean(final_return(a)))
    assert record["final_return_sweep"] == pytest.approx(2.5 + 14.5)  # agents 0..5, updates 14, 15
    assert record["runs_identical"] == 6


# ------------------------------------------------------------------------- reprs ---


def test_train_output_repr_is_short_and_says_the_key_facts():
    out = TrainOutput(state=None, metrics=fake_metrics((4,), 976, batch_size=512))
    text = repr(out)
    assert len(text.splitlines()) < 25 and len(text) < 2000
    assert "4 agents x 976 updates" in text
    assert "env steps per agent: 499,712" in text
    # window 98: agent a's mean of a + 879 ... a + 976 is a + 927.5; over agents 929, 927.5 to 930.5
    assert "final return: mean 929, min 927.5, max 930.5 over agents" in text
    assert "metrics: [4, 976] each: timesteps, episode_return, value_loss" in text
    assert "927.5" in str(out)  # print() shows the same


def test_train_output_repr_of_one_agent_and_of_a_grid():
    assert "one agent x 5 updates" in repr(TrainOutput(None, fake_metrics((), 5)))
    assert "final return: 5 " in repr(TrainOutput(None, fake_metrics((), 5)))
    assert "6 agents (batch shape (2, 3)) x 5 updates" in repr(TrainOutput(None, fake_metrics((2, 3), 5)))


def test_train_output_repr_works_while_traced_and_the_pytree_is_unchanged():
    out = TrainOutput(state=None, metrics=jax.tree.map(jnp.asarray, fake_metrics((2,), 5)))
    seen = []

    @jax.jit
    def f(o):
        seen.append(repr(o))  # inside the trace: shapes only, no values
        return jax.tree.map(lambda x: x * 2, o)

    doubled = f(out)
    assert "2 agents x 5 updates" in seen[0] and "final return" not in seen[0]
    assert isinstance(doubled, TrainOutput) and len(jax.tree.leaves(doubled)) == 3
    np.testing.assert_array_equal(doubled.metrics["episode_return"], 2 * out.metrics["episode_return"])
    assert "final return: mean 11" in repr(doubled)  # 2 * mean(4.5, 5.5 ... ) over agents


def fake_sweep() -> SweepResult:
    """3 x 2 grid, 4 seeds, 10 updates: configuration i returns i + u (best: the last)."""
    base = ppo_jax.PPOConfig(total_timesteps=5120)  # 10 updates
    grid = {"learning_rate": [1e-4, 3e-4, 1e-3], "clip_eps": [0.1, 0.2]}
    settings = expand_grid(grid)
    configs = tuple(base.replace(**s) for s in settings)
    per_config = fake_metrics((6, 4), 10)
    per_config["episode_return"] = (np.arange(6, dtype=np.float32)[:, None, None]
                                    + update_numbers(10)[None, None, :].astype(np.float32)
                                    + np.zeros((6, 4, 10), np.float32))
    return SweepResult(configs, tuple(settings), per_config, seed=0, num_compiles=1)


def test_sweep_result_repr_is_short_and_names_the_best():
    res = fake_sweep()
    text = repr(res)
    assert len(text.splitlines()) < 25 and len(text) < 2000
    assert "CartPole-v1: 6 configurations x 4 seeds x 10 updates, seed 0, 1 compile(s)" in text
    assert "learning_rate: 0.0001, 0.0003, 0.001" in text and "clip_eps: 0.1, 0.2" in text
    assert "metrics: float32 [6, 4, 10] each: timesteps, episode_return, value_loss" in text
    best = res.summary().iloc[0]
    assert best.config == 5 and best.final_return == pytest.approx(15.0)  # 5 + update 10
    assert "best: configuration 5 (learning_rate=0.001, clip_eps=0.2): final return 15" in text


def test_sweep_result_repr_summarizes_many_values():
    res = fake_sweep()
    many = [{"learning_rate": float(lr)} for lr in np.geomspace(1e-4, 1e-2, 6)] + [
        {"learning_rate": 0.5}]
    res = SweepResult(res.configs[:1] * 7, tuple(many),
                      {k: np.concatenate([v, v[:1]]) for k, v in res.metrics.items()}, 0, 0)
    assert "learning_rate: 7 values in [0.0001, 0.5]" in repr(res)
