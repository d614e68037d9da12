"""`ppo-jax train`, `plot` and `evaluate` end to end on a tiny budget.

The commands run in-process (`ppo_jax.cli.main.run_command`), so the three
training invocations below share one compile: an uninterrupted run in chunks of
2 updates, and a run stopped after 2 updates then resumed from its checkpoint.
`--help` runs as a real subprocess of the installed `ppo-jax`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import ppo_jax
from ppo_jax.analysis.plots import mean_and_band
from ppo_jax.cli import evaluate
from ppo_jax.cli.common import UsageError
from ppo_jax.cli.main import main, run_command
from ppo_jax.envs.adapters import make_env

REPO_ROOT = Path(__file__).resolve().parent.parent
PPO_JAX = Path(sys.executable).parent / "ppo-jax"  # the installed entry point
TINY = ["--env", "CartPole-v1", "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2",
        "--update-epochs", "1", "--hidden-sizes", "8", "--total-timesteps", "128", "--num-seeds", "2",
        "--seed", "3", "--learning-rate", "1e-3"]
NUM_UPDATES = 4


def train(argv: list[str]) -> str:
    """`ppo-jax train ARGV...` in-process: the output folder (SystemExit on bad input)."""
    return run_command(["train", *argv])


def error_of(argv: list[str], capsys) -> str:
    """stderr of `ppo-jax ARGV...`, which must exit with code 2 (bad input)."""
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    full, resumed = root / "full", root / "resumed"
    train(TINY + ["--out", str(full), "--checkpoint-every", "2"])
    train(TINY + ["--out", str(resumed), "--checkpoint-every", "2", "--max-updates", "2",
                  "--no-plot"])
    stopped = {
        "run": json.loads((resumed / "run.json").read_text()),
        "metrics": dict(np.load(resumed / "metrics.npz")),
        "update_step": ppo_jax.checkpoint_info(resumed / "checkpoint")["update_step"],
    }
    train(["--resume", str(resumed)])
    return {"full": full, "resumed": resumed, "stopped": stopped, "root": root}


def test_help_lists_every_field_with_default():
    proc = subprocess.run([str(PPO_JAX), "train", "--help"], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    fields = [f for f in ppo_jax.config.STATIC_FIELDS] + list(ppo_jax.config.HPARAM_FIELDS)
    for name in fields + ["num_seeds", "seed", "out", "resume", "checkpoint_every"]:
        assert f"--{name.replace('_', '-')}" in text, name
    preset = ppo_jax.preset("CartPole-v1")  # the default env's preset gives the defaults shown
    assert f"(default: {preset.hparams.learning_rate})" in text and "(default: 64 64)" in text
    assert f"(default: {preset.total_timesteps})" in text and "(default: relu)" in text
    assert "Adam step size" in text  # the meaning, from the PPOConfig / HParams docstrings


def test_help_shows_the_env_preset(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["train", "--env", "Pendulum-v1", "--help"]) == 0
    preset = ppo_jax.preset("Pendulum-v1")
    out = capsys.readouterr().out
    assert f"(default: {preset.total_timesteps})" in out and f"(default: {preset.num_envs})" in out


def test_output_folder_has_every_file(runs):
    out = runs["full"]
    for name in ("config.json", "run.json", "metrics.csv", "metrics.npz", "learning_curve.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    config = ppo_jax.PPOConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert config.num_envs == 2 and config.hidden_sizes == (8,) and config.hparams.learning_rate == 1e-3
    assert config.num_updates == NUM_UPDATES
    run = json.loads((out / "run.json").read_text())
    assert run["num_seeds"] == 2 and run["seed"] == 3 and run["updates_done"] == NUM_UPDATES
    raw = np.load(out / "metrics.npz")
    assert set(raw.files) >= {"timesteps", "episode_return", "policy_loss", "value_loss", "entropy",
                              "approx_kl", "clip_fraction"}
    assert raw["episode_return"].shape == (2, NUM_UPDATES)
    np.testing.assert_array_equal(raw["timesteps"][0], 32 * np.arange(1, NUM_UPDATES + 1))
    tidy = pd.read_csv(out / "metrics.csv")
    assert len(tidy) == 2 * NUM_UPDATES and list(tidy.columns[:3]) == ["seed", "update", "timesteps"]
    np.testing.assert_allclose(tidy.query("seed == 1")["value_loss"], raw["value_loss"][1], rtol=1e-6)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved_config, state = ppo_jax.load(out / "checkpoint")
    assert saved_config == config and state.update_step.tolist() == [NUM_UPDATES] * 2


def test_stopped_run_saved_its_progress(runs):
    stopped = runs["stopped"]
    assert stopped["run"]["updates_done"] == 2 and stopped["update_step"] == 2
    assert stopped["metrics"]["episode_return"].shape == (2, 2)


def test_resumed_run_equals_uninterrupted(runs):
    full, resumed = np.load(runs["full"] / "metrics.npz"), np.load(runs["resumed"] / "metrics.npz")
    assert set(full.files) == set(resumed.files)
    for name in full.files:
        np.testing.assert_allclose(resumed[name], full[name], rtol=1e-5, atol=1e-6, err_msg=name)
    _, state_full = ppo_jax.load(runs["full"] / "checkpoint")
    _, state_resumed = ppo_jax.load(runs["resumed"] / "checkpoint")
    import jax

    for a, b in zip(jax.tree.leaves(state_full.params), jax.tree.leaves(state_resumed.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(state_full.obs), np.asarray(state_resumed.obs))


def test_resume_refuses_changed_settings(runs, capsys):
    err = error_of(["train", "--resume", str(runs["resumed"]), "--learning-rate", "0.1"], capsys)
    assert "these flags differ from it: --learning-rate" in err


def test_resume_of_a_folder_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert "does not exist" in error_of(["train", "--resume", str(tmp_path / "nothing")], capsys)


def test_invalid_config_is_a_clear_error(tmp_path, capsys):
    err = error_of(["train", *TINY[:-2], "--num-minibatches", "3", "--out", str(tmp_path / "out")],
                   capsys)
    assert "num_minibatches" in err and not (tmp_path / "out").exists()


def test_plot_overlays_runs(runs, capsys):
    out = runs["root"] / "compare.png"
    run_command(["plot", str(runs["full"]), str(runs["resumed"]), "--labels", "full", "resumed",
                 "--out", str(out)])
    assert out.read_bytes()[:4] == b"\x89PNG"
    run_command(["plot", str(runs["full"])])  # redraw in place
    assert (runs["full"] / "learning_curve.png").is_file()
    assert "has no metrics.npz" in error_of(["plot", str(runs["root"] / "missing")], capsys)
    assert "one label per run" in error_of(["plot", str(runs["full"]), "--labels", "a", "b"], capsys)
    assert "--out is required" in error_of(["plot", str(runs["full"]), str(runs["resumed"])], capsys)


def test_mean_and_band():
    values = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 5.0], [5.0, 6.0, np.nan]])
    mean, low, high = mean_and_band(values)
    np.testing.assert_allclose(mean, [3.0, 4.0, 5.0])
    half = 4.302652729911275 * 2.0 / np.sqrt(3)  # t(0.975, 2) * std / sqrt(n)
    np.testing.assert_allclose(high[:2] - mean[:2], [half, half])
    assert np.isnan(low[2])  # one seed: no band
    # 2 of 6 seeds with a value: fewer than half, so no band (t(1) would draw 12.7 standard errors)
    sparse = np.full((6, 2), np.nan)
    sparse[:, 0] = np.arange(6.0)
    sparse[:2, 1] = [0.0, 400.0]
    mean, low, high = mean_and_band(sparse)
    assert np.isfinite(low[0]) and np.isnan(low[1]) and mean[1] == 200.0


def test_evaluate_reports_and_draws(runs, capsys, monkeypatch):
    raw = {}  # the per-episode returns the command computed its statistics from

    def recording(*args, **kwargs):
        raw.update(real_evaluate_population(*args, **kwargs))
        return raw

    real_evaluate_population = evaluate.evaluate_population
    monkeypatch.setattr(evaluate, "evaluate_population", recording)
    gif = runs["root"] / "episode.gif"
    result = run_command(["evaluate", str(runs["full"]), "--episodes", "3", "--gif", str(gif),
                          "--max-frames", "20"])
    for mode in ("deterministic", "stochastic"):
        r, returns = result[mode], np.asarray(raw[mode], np.float64)
        assert returns.shape == (2, 3) and r["num_agents"] == 2 and r["episodes_per_agent"] == 3
        # CartPole pays 1 per step: whole episodes return a whole number of steps, 1 to 500
        np.testing.assert_array_equal(returns, np.round(returns))
        assert returns.min() >= 1 and returns.max() <= 500
        np.testing.assert_allclose([r["mean"], r["std"], r["min"], r["max"]],
                                   [returns.mean(), returns.std(), returns.min(), returns.max()],
                                   rtol=1e-6, err_msg=mode)
        np.testing.assert_allclose(r["agent_means"], returns.mean(axis=1), rtol=1e-6, err_msg=mode)
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert 1 <= result["gif"]["frames"] <= 20
    assert json.loads((runs["full"] / "evaluation.json").read_text())["env"] == "CartPole-v1"
    assert "--agent 2 out of range: the checkpoint holds 2 agents" in error_of(
        ["evaluate", str(runs["full"]), "--agent", "2"], capsys)
    assert "--episodes must be positive" in error_of(["evaluate", str(runs["full"]), "--episodes", "0"],
                                                     capsys)


def test_resume_with_a_larger_budget_extends_the_run(runs, tmp_path, capsys):
    """--resume DIR --total-timesteps N continues from the checkpoint; the learning rate
    anneals over the new budget (lr * (1 - u / 4) after the 2 updates of a budget of 2)."""
    out = tmp_path / "extended"
    short = TINY[:TINY.index("--total-timesteps")] + ["--total-timesteps", "64"] + \
        TINY[TINY.index("--total-timesteps") + 2:]
    train(short + ["--out", str(out), "--no-plot"])
    before = dict(np.load(out / "metrics.npz"))
    err = error_of(["train", "--resume", str(out)], capsys)
    assert re.search(r"has done all 2 of its updates.*larger --total-timesteps", err)
    err = error_of(["train", "--resume", str(out), "--total-timesteps", "32"], capsys)
    assert "--total-timesteps 32 is smaller than the resumed run's 64" in err
    train(["--resume", str(out), "--total-timesteps", "128", "--no-plot"])
    after = dict(np.load(out / "metrics.npz"))
    lr = 1e-3
    np.testing.assert_allclose(after["learning_rate"][0], [lr, lr / 2, lr * 2 / 4, lr * 1 / 4], rtol=1e-6)
    for name, value in before.items():  # the first two updates are kept, not redone
        np.testing.assert_array_equal(after[name][:, :2], value, err_msg=name)
    np.testing.assert_array_equal(after["timesteps"][0], 32 * np.arange(1, 5))
    assert json.loads((out / "config.json").read_text())["total_timesteps"] == 128
    assert json.loads((out / "run.json").read_text())["updates_done"] == 4
    assert ppo_jax.checkpoint_info(out / "checkpoint")["update_step"] == 4
    # ... and it is the run that --total-timesteps 128 makes from the start, but for the rate
    full = dict(np.load(runs["full"] / "metrics.npz"))
    np.testing.assert_allclose(full["learning_rate"][0], [lr, lr * 3 / 4, lr / 2, lr / 4], rtol=1e-6)


def test_evaluate_draws_suite_envs_with_their_render(tmp_path):
    """GIFs beyond gymnax: an (untrained) agent's Navix episode, drawn by the env's
    render(state), here Navix's own RGB grid of 8-pixel tiles. The Brax and Craftax
    renders are checked in test_env_protocol.py."""
    env_id, frame_shape = "navix/Navix-Empty-5x5-v0", (40, 40, 3)
    config = ppo_jax.PPOConfig(env=env_id, num_envs=2, num_steps=8, total_timesteps=16, hidden_sizes=(8,))
    state = ppo_jax.make_trainer(config).init(jax.random.key(0))
    frames, cum = evaluate.record_episode(config, state, jax.random.key(1), max_steps=12)
    assert 1 <= len(frames) <= 12 and cum.shape == (len(frames),)
    env = make_env(env_id).env
    image = np.asarray(jax.jit(env.render)(frames[0]))
    assert image.shape == frame_shape and image.dtype == np.uint8 and image.min() < image.max()
    gif = evaluate.write_gif(config, frames, cum, str(tmp_path / "episode.gif"))
    assert Path(gif).read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_evaluate_refuses_an_undrawable_env_before_compiling():
    with pytest.raises(UsageError, match="cannot draw DeepSea-bsuite; drawable envs: .*navix/"):
        evaluate.check_drawable("DeepSea-bsuite")
