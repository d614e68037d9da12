"""Command-line mistakes: `ppo-jax train`'s output folder and values that do not parse.

Every refusal here happens before anything is compiled; only the --overwrite
run trains (a tiny budget, one compile).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ppo_jax
from ppo_jax.cli.main import main, run_command

TINY = ["--env", "CartPole-v1", "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2",
        "--update-epochs", "1", "--hidden-sizes", "8", "--total-timesteps", "64", "--num-seeds", "2",
        "--no-progress"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes): what "nothing touched" compares."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def exit_code_and_stderr(argv, capsys) -> tuple[int, str]:
    """`ppo-jax ARGV...` in-process: (exit code, stderr)."""
    code = main(argv)
    return code, capsys.readouterr().err


# ----------------------------------------------------- ppo-jax train --out ---


def test_train_refuses_a_non_empty_out_and_touches_nothing(tmp_path, capsys):
    (tmp_path / "learning_curve.png").write_bytes(b"an old run's plot")
    (tmp_path / "config.json").write_text("{}")
    before = snapshot(tmp_path)
    code, err = exit_code_and_stderr(["train", *TINY, "--out", str(tmp_path)], capsys)
    assert code == 2
    assert f"--out {tmp_path} is not empty" in err and "--overwrite" in err and "--resume" in err
    assert snapshot(tmp_path) == before


def test_train_overwrite_keeps_files_it_did_not_write(tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text("update\n1\n")
    (tmp_path / "notes.txt").write_text("my notes")
    before = snapshot(tmp_path)
    code, err = exit_code_and_stderr(["train", *TINY, "--out", str(tmp_path), "--overwrite"],
                                     capsys)
    assert code == 2 and "notes.txt" in err and "never deleted" in err
    assert snapshot(tmp_path) == before


def test_train_refuses_an_out_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "run"
    path.write_text("x")
    code, err = exit_code_and_stderr(["train", *TINY, "--out", str(path)], capsys)
    assert code == 2 and "is not a folder" in err and path.read_text() == "x"


@pytest.fixture(scope="module")
def overwritten(tmp_path_factory):
    """A folder holding a stale previous run, then trained into with --overwrite --no-plot."""
    out = tmp_path_factory.mktemp("overwritten")
    (out / "learning_curve.png").write_bytes(b"stale")
    (out / "metrics.csv").write_text("seed,update\n0,1\n")
    (out / "run.json").write_text(json.dumps({"num_seeds": 9, "seed": 9}))
    (out / "metrics.npz.tmp-12345").write_bytes(b"left by an interrupted save")
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "stale").write_text("old checkpoint step")
    run_command(["train", *TINY, "--out", str(out), "--overwrite", "--no-plot"])
    return out


def test_train_overwrite_replaces_the_previous_run(overwritten):
    names = set(os.listdir(overwritten))
    assert names == {"config.json", "run.json", "metrics.csv", "metrics.npz", "checkpoint"}
    assert json.loads((overwritten / "run.json").read_text())["num_seeds"] == 2
    assert not (overwritten / "checkpoint" / "stale").exists()
    config, state = ppo_jax.load(overwritten / "checkpoint")
    assert config.num_envs == 2 and np.shape(state.update_step) == (2,)


def test_metrics_csv_is_the_train_output_frame(overwritten):
    """The CLI's metrics.csv and TrainOutput.to_dataframe() agree: update counts from 1."""
    config = ppo_jax.PPOConfig.from_dict(json.loads((overwritten / "config.json").read_text()))
    expected = ppo_jax.train_seeds(config, num_seeds=2, seed=0).to_dataframe()
    csv = pd.read_csv(overwritten / "metrics.csv")
    assert csv["update"].tolist() == expected["update"].tolist() == [1, 2] * 2
    pd.testing.assert_frame_equal(csv, expected, check_dtype=False, rtol=1e-4, atol=1e-5)


def test_train_overwrite_and_resume_together_are_refused(overwritten, capsys):
    before = snapshot(overwritten)
    code, err = exit_code_and_stderr(["train", "--resume", str(overwritten), "--overwrite"], capsys)
    assert code == 2 and "give one of them" in err
    assert snapshot(overwritten) == before


# --------------------------------------------- values that do not parse ---


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--grid", "learning_rate=1e-3,abc"], "--grid learning_rate: 'abc' is not a number"),
        (["--grid", "num_envs=4,8.5"], "--grid num_envs: '8.5' is not an integer"),
        (["--grid", "hidden_sizes=64x64,64xa"], "--grid hidden_sizes: '64xa' is not layer sizes"),
        (["--grid", "anneal_lr=true,yes"], "--grid anneal_lr: 'yes' is not true or false"),
        (["--grid", "learning_rte=1e-3"], "--grid: unknown key 'learning_rte'; valid keys"),
        (["--grid", "learning_rate="], "--grid takes key=value, got 'learning_rate='"),
        (["--grid", "clip_eps=0.2", "--set", "num_envs=four"], "--set num_envs: 'four' is not an integer"),
        (["--random", "learning_rate=1e-4:high"], "--random learning_rate: 'high' is not a number"),
        (["--random", "num_minibatches=2|x"], "--random num_minibatches: 'x' is not an integer"),
    ],
    ids=["float", "int", "hidden_sizes", "bool", "unknown_key", "no_value", "set", "random_range",
         "random_choice"],
)
def test_sweep_names_the_key_and_the_bad_value(tmp_path, capsys, argv, expected):
    code, err = exit_code_and_stderr(["sweep", *argv, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and expected in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, flag, value", [
    (["--num-envs", "8.5"], "--num-envs", "8.5"),
    (["--hidden-sizes", "64", "abc"], "--hidden-sizes", "abc"),
    (["--learning-rate", "abc"], "--learning-rate", "abc"),
], ids=["int", "int_list", "float"])
def test_train_names_the_flag_and_the_bad_value(tmp_path, capsys, monkeypatch, argv, flag, value):
    monkeypatch.setenv("COLUMNS", "200")
    code, err = exit_code_and_stderr(["train", *argv, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and flag in err and value in err
    assert not (tmp_path / "out").exists()


def test_train_runs_a_suite_env_with_its_options(tmp_path):
    """--env takes <suite>/<name> ids and --env-options KEY VALUE pairs (saved in config.json)."""
    out = tmp_path / "brax"
    run_command(["train", "--env", "navix/Navix-Empty-5x5-v0", "--env-options", "max_steps", "20",
                       "--num-envs", "2", "--num-steps", "8", "--num-minibatches", "2",
                       "--update-epochs", "1", "--total-timesteps", "32", "--num-seeds", "2",
                       "--out", str(out), "--no-plot", "--no-progress"])
    saved = json.loads((out / "config.json").read_text())
    assert saved["env"] == "navix/Navix-Empty-5x5-v0" and saved["env_options"] == {"max_steps": 20}
    config, state = ppo_jax.load(out / "checkpoint")
    assert config.env_options == (("max_steps", 20),) and state.env_name == "navix/Navix-Empty-5x5-v0"


@pytest.mark.parametrize("argv, expected", [
    (["train", "--env", "CartPol-v1"], "argument --env: PPOConfig.env 'CartPol-v1' is not a gymnax env id"),
    (["train", "--activation", "sigmoid"], "argument --activation: invalid choice: 'sigmoid' (choose from"),
    (["train", "--env-options", "max_steps"], "argument --env-options: takes KEY VALUE pairs"),
    (["train", "--num-seeds", "0"], "--num-seeds must be positive, got 0"),
    (["train", "--max-updates", "-1"], "--max-updates must be 0 or more, got -1"),
    (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["trian"], "invalid choice: 'trian' (choose from"),
    (["sweep", "--grid", "learning_rate=1e-3", "--random", "ent_coef=0:0.1"], "give --grid or --random"),
    (["pbt", "--space", "learning_rate=1e-4:1e-2:lgo"], "--space"),
    (["evaluate", "nothing-here"], "does not exist"),
    (["plot", "nothing-here"], "has no metrics.npz"),
], ids=["env", "activation", "env_options", "num_seeds", "max_updates", "unknown_flag", "command",
        "grid_and_random", "pbt_range", "evaluate_missing", "plot_missing"])
def test_bad_input_exits_2_naming_the_flag_before_anything_is_written(tmp_path, monkeypatch, capsys,
                                                                      argv, expected):
    monkeypatch.chdir(tmp_path)
    extra = ["--out", str(tmp_path / "out")] if argv[0] in ("train", "sweep", "pbt") else []
    code, err = exit_code_and_stderr([*argv, *extra], capsys)
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert f"ppo-jax{' ' + argv[0] if argv[0] != 'trian' else ''}: error:" in err
    assert os.listdir(tmp_path) == []


def test_sweep_and_pbt_share_one_range_parser():
    from ppo_jax.cli import common, pbt, sweep

    assert common.parse_range("learning_rate=1e-4:1e-2:log") == ("learning_rate", (1e-4, 1e-2, "log"))
    assert common.parse_range("num_minibatches=2|4") == ("num_minibatches", [2, 4])
    assert common.parse_ranges(["ent_coef=0:0.1"], "--space") == {"ent_coef": (0.0, 0.1)}
    assert sweep.parse_range is common.parse_range and pbt.parse_ranges is common.parse_ranges
