"""The installed `ppo-jax` entry point and `python -m ppo_jax`, run as real subprocesses
(the top-level help, an unknown subcommand, one tiny training run whose folder
`ppo_jax.load` reads), and every subcommand's --help.

(The flags, errors and outputs of each subcommand are tested in-process in
test_cli.py, test_cli_runs.py, test_tracking_cli.py and test_pbt.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ppo_jax
from ppo_jax.cli.main import main

PPO_JAX = shutil.which("ppo-jax", path=str(Path(sys.executable).parent)) or shutil.which("ppo-jax")
ENV = {**os.environ, "COLUMNS": "200"}
# Each subcommand's own flags (and none of the others'), as --help lists them.
FLAGS = {
    "train": ["--env ENV", "--num-seeds", "--learning-rate", "--hidden-sizes", "--no-progress",
              "--resume DIR", "--overwrite", "--checkpoint-every", "--max-updates", "--track"],
    "sweep": ["--grid KEY=V1,V2,...", "--random KEY=LOW:HIGH[:log]", "--set KEY=VALUE", "--num-configs",
              "--distributed", "--track-population"],
    "pbt": ["--space KEY=LOW:HIGH[:log]", "--init KEY=LOW:HIGH[:log]", "--population", "--ready-every",
            "--perturb LOW,HIGH", "--max-generations", "--resume DIR"],
    "evaluate": ["DIR", "--episodes", "--agent", "--gif PATH", "--gif-stochastic", "--max-frames",
                 "--json PATH"],
    "plot": ["DIR", "--out", "--labels", "--title"],
}


def ppo_jax_command(*argv: str, cwd=None, timeout: int = 300) -> subprocess.CompletedProcess:
    assert PPO_JAX, "the ppo-jax entry point is not installed (pip install -e .)"
    return subprocess.run([PPO_JAX, *argv], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=timeout)


@pytest.mark.parametrize("command", list(FLAGS))
def test_every_subcommand_has_help(command, capsys, monkeypatch):
    """In-process (`main`, as the entry point calls it): the entry point itself is run as a
    process by the two tests below and by the training run."""
    monkeypatch.setenv("COLUMNS", ENV["COLUMNS"])
    assert main([command, "--help"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith(f"usage: ppo-jax {command}"), stdout[:300]
    for flag in FLAGS[command]:
        assert flag in stdout, (command, flag)
    assert ("--learning-rate" in stdout) == (command == "train")  # train's flags are its own


def test_python_dash_m_lists_the_subcommands():
    proc = subprocess.run([sys.executable, "-m", "ppo_jax", "--help"], capture_output=True, text=True,
                          env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: ppo-jax")
    for command in FLAGS:
        assert f"    {command} " in proc.stdout, command


def test_an_unknown_subcommand_exits_2_with_the_choices():
    proc = ppo_jax_command("trian")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "invalid choice: 'trian' (choose from" in proc.stderr
    assert all(command in proc.stderr.rsplit("choose from", 1)[1] for command in FLAGS)


@pytest.mark.slow  # about a minute on 2 shared cores: a fresh process imports and compiles
def test_a_tiny_training_run_writes_its_folder(tmp_path):
    out = tmp_path / "cartpole"
    proc = ppo_jax_command("train", "--env", "CartPole-v1", "--total-timesteps", "1024",
                           "--num-seeds", "2", "--hidden-sizes", "8", "--no-progress", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}/: config.json" in proc.stdout
    for name in ("config.json", "run.json", "metrics.csv", "metrics.npz", "learning_curve.png"):
        assert (out / name).is_file(), name
    assert (out / "checkpoint").is_dir()
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    run = json.loads((out / "run.json").read_text())
    assert run["argv"][:2] == ["ppo-jax", "train"] and run["num_seeds"] == 2
    config, state = ppo_jax.load(out / "checkpoint")
    assert config.hidden_sizes == (8,) and config.total_timesteps <= 1024
    assert np.shape(state.update_step) == (2,)
    assert state.update_step.tolist() == [config.num_updates] * 2
    # the same folder again: refused, exit code 2, nothing touched
    before = (out / "metrics.csv").read_bytes()
    again = ppo_jax_command("train", "--total-timesteps", "1024", "--out", str(out))
    assert again.returncode == 2 and "is not empty" in again.stderr
    assert (out / "metrics.csv").read_bytes() == before


def test_env_is_checked_importing_only_the_suite_it_names():
    """`ppo-jax train` checks --env without importing every installed suite (that took
    seconds on each command): none for a gymnax id, only Navix for a navix/ id; a bad
    suite id still names the suite's valid ids."""
    script = """
import contextlib, io, json, sys
from ppo_jax.cli.main import main
SUITES = ("brax", "navix", "craftax", "mujoco_playground", "jumanji", "xminigrid")
seen, codes, errors = [], [], []
for env in ("CartPole-v1", "navix/Navix-Empty-5x5-v0", "navix/Navix-Empty-55x5-v0"):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        codes.append(main(["train", "--env", env, "--num-seeds", "0", "--out", "unused"]))
    seen.append([name for name in SUITES if name in sys.modules])
    errors.append(err.getvalue())
print(json.dumps({"seen": seen, "codes": codes, "errors": errors}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["seen"] == [[], ["navix"], ["navix"]]
    assert result["codes"] == [2, 2, 2]  # --num-seeds 0 for the good ids, --env for the bad one
    assert "--num-seeds must be positive" in result["errors"][0]
    assert "argument --env:" in result["errors"][2] and "navix/Navix-Empty-5x5-v0" in result["errors"][2]
