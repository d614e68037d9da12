"""--track / --run-name of scripts/train.py and scripts/sweep.py, and their bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_jax.loggers import read_jsonl

TINY = ["--env", "CartPole-v1", "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2",
        "--update-epochs", "1", "--hidden-sizes", "8", "--total-timesteps", "128", "--num-seeds", "2",
        "--no-plot", "--no-progress"]


def test_train_tracks_every_seed_with_evaluation(train_script, tmp_path):
    out = tmp_path / "run"
    train_script.main(TINY + ["--out", str(out), "--eval-every", "2", "--eval-episodes", "2",
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
    train_script.main(TINY + ["--out", str(out), "--overwrite"])
    assert not (out / "metrics.jsonl").exists() and not (out / "tensorboard").exists()


def test_train_refuses_an_unknown_tracker_before_touching_anything(train_script, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        train_script.main(TINY + ["--out", str(out), "--track", "jsonl", "mlflow"])
    assert exc.value.code == 2
    assert "unknown tracker 'mlflow'; valid trackers: jsonl, tensorboard, wandb" in capsys.readouterr().err
    assert not out.exists()


def test_train_refuses_eval_every_past_the_run(train_script, tmp_path):
    with pytest.raises(SystemExit) as exc:
        train_script.main(TINY + ["--out", str(tmp_path / "r"), "--eval-every", "5"])
    assert "eval_every = 5 is larger than the number of updates 4" in str(exc.value.code)
    assert not (tmp_path / "r").exists()


def test_sweep_tracks_curves_named_after_swept_values(sweep_script, tmp_path):
    out = tmp_path / "sweep"
    sweep_script.main(["--set", "total_timesteps=128", "--set", "num_envs=2", "--set", "num_steps=16",
                       "--set", "num_minibatches=2", "--set", "update_epochs=1",
                       "--set", "hidden_sizes=8", "--grid", "learning_rate=1e-3,3e-4",
                       "--num-seeds", "2", "--out", str(out), "--track", "jsonl",
                       "--track-population", "reduce"])
    hparams, frame = read_jsonl(out / "metrics.jsonl")
    assert sorted(hparams) == ["learning_rate=0.0003", "learning_rate=0.001"]
    assert set(frame["run"]) == {"sweep"} and "episode_return/mean" in frame


def test_sweep_refuses_an_unknown_tracker(sweep_script, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        sweep_script.main(["--grid", "learning_rate=1e-3", "--out", str(tmp_path / "s"),
                           "--track", "tensorbored"])
    assert exc.value.code == 2
    assert "unknown tracker 'tensorbored'; valid trackers" in capsys.readouterr().err
