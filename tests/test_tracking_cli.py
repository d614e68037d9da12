"""--track / --run-name of `ppo-jax train` and `ppo-jax sweep`, and their bad input."""

from __future__ import annotations

import numpy as np

from ppo_jax.cli.main import main, run_command
from ppo_jax.tracking.loggers import read_jsonl

TINY = ["--env", "CartPole-v1", "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2",
        "--update-epochs", "1", "--hidden-sizes", "8", "--total-timesteps", "128", "--num-seeds", "2",
        "--no-plot", "--no-progress"]


def test_train_tracks_every_seed_with_evaluation(tmp_path):
    out = tmp_path / "run"
    run_command(["train", *TINY, "--out", str(out), "--eval-every", "2", "--eval-episodes", "2",
                 "--track", "jsonl", "tensorboard", "--run-name", "cp"])
    hparams, frame = read_jsonl(out / "metrics.jsonl")
    assert sorted(hparams) == ["seed0", "seed1"] and set(frame["run"]) == {"cp"}
    raw = np.load(out / "metrics.npz")
    rows = frame[frame["curve"] == "seed1"]
    np.testing.assert_allclose(rows["policy_loss"], raw["policy_loss"][1], rtol=1e-6)
    np.testing.assert_allclose(rows["eval_return"].to_numpy()[[1, 3]], raw["eval_return"][1, [1, 3]],
                               rtol=1e-6)
    assert list((out / "tensorboard" / "cp").iterdir())  # one folder per seed
    assert sorted(p.name for p in (out / "tensorboard" / "cp").iterdir()) == ["seed0", "seed1"]
    # --overwrite knows the tracker files as the run's own
    run_command(["train", *TINY, "--out", str(out), "--overwrite"])
    assert not (out / "metrics.jsonl").exists() and not (out / "tensorboard").exists()


def test_train_refuses_an_unknown_tracker_before_touching_anything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--track", "jsonl", "mlflow"]) == 2
    assert "unknown tracker 'mlflow'; valid trackers: jsonl, tensorboard, wandb" in capsys.readouterr().err
    assert not out.exists()


def test_train_refuses_eval_every_past_the_run(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path / "r"), "--eval-every", "5"]) == 2
    assert "eval_every = 5 is larger than the number of updates 4" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sweep_tracks_curves_named_after_swept_values(tmp_path):
    out = tmp_path / "sweep"
    run_command(["sweep", "--set", "total_timesteps=128", "--set", "num_envs=2", "--set", "num_steps=16",
                 "--set", "num_minibatches=2", "--set", "update_epochs=1",
                 "--set", "hidden_sizes=8", "--grid", "learning_rate=1e-3,3e-4",
                 "--num-seeds", "2", "--out", str(out), "--track", "jsonl",
                 "--track-population", "reduce"])
    hparams, frame = read_jsonl(out / "metrics.jsonl")
    assert sorted(hparams) == ["learning_rate=0.0003", "learning_rate=0.001"]
    assert set(frame["run"]) == {"sweep"} and "episode_return/mean" in frame


def test_sweep_refuses_an_unknown_tracker(tmp_path, capsys):
    assert main(["sweep", "--grid", "learning_rate=1e-3", "--out", str(tmp_path / "s"),
                 "--track", "tensorbored"]) == 2
    assert "unknown tracker 'tensorbored'; valid trackers" in capsys.readouterr().err
