"""Several processes through `jax.distributed` (gloo on the CPU), as on several hosts.

Two processes of one CPU device each run the same `ppo-jax` command with
`--distributed`; one agent's `data_parallel=2` groups are split over the two
processes' devices (a mesh spanning both), so every minibatch step all-reduces
between the processes. The result must equal the same command in one process
on one device (float32 rounding).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ["--set", "total_timesteps=1024", "--set", "num_envs=8", "--set", "num_steps=32",
            "--set", "data_parallel=2"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def one_device_env() -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=1".strip()
    return {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ppo_jax", *args]


def run_two_processes(args: list[str]) -> list[subprocess.CompletedProcess]:
    """`args` with --distributed in two processes (ids 0 and 1) at once."""
    port = free_port()
    procs = [subprocess.Popen(cli(*args, "--distributed", "--coordinator-address", f"localhost:{port}",
                                  "--num-processes", "2", "--process-id", str(i)),
                              cwd=REPO_ROOT, env=one_device_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def test_sweep_with_groups_across_two_processes_equals_one_process(tmp_path):
    grid = ["--grid", "learning_rate=1e-3,3e-3", "--num-seeds", "1"]
    two = run_two_processes(["sweep", *SETTINGS, "--group-devices", "2", *grid, "--out", str(tmp_path / "two")])
    for proc in two:
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 device(s)" in two[0].stdout            # the mesh spans both processes
    one = subprocess.run(cli("sweep", *SETTINGS, *grid, "--out", str(tmp_path / "one")), cwd=REPO_ROOT,
                         env=one_device_env(), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = pd.read_csv(tmp_path / "two" / "sweep.csv"), pd.read_csv(tmp_path / "one" / "sweep.csv")
    assert list(a.columns) == list(b.columns) and len(a) == len(b) == 2 * 4
    for column in ("policy_loss", "value_loss", "entropy", "grad_norm", "explained_variance"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-4, atol=1e-5, err_msg=column)
    np.testing.assert_array_equal(a["episode_return"], b["episode_return"])


def test_train_with_groups_across_two_processes_resumes_and_equals_one_process(tmp_path):
    """`ppo-jax train --distributed --devices all`: one seed's 2 groups on the two processes'
    devices, stopped after 4 of 8 updates (checkpointed) and resumed, again over two
    processes; equals one uninterrupted process on one device."""
    run = ["train", "--env", "CartPole-v1", "--num-seeds", "1", "--data-parallel", "2", "--num-envs", "8",
           "--num-steps", "32", "--total-timesteps", "2048", "--checkpoint-every", "2", "--no-progress",
           "--no-plot"]
    two = tmp_path / "two"
    for args in ([*run, "--max-updates", "4", "--devices", "all", "--out", str(two)],
                 ["train", "--resume", str(two), "--devices", "all", "--no-progress", "--no-plot"]):
        for proc in run_two_processes(args):
            assert proc.returncode == 0, proc.stderr[-3000:]
    one = subprocess.run(cli(*run, "--out", str(tmp_path / "one")), cwd=REPO_ROOT, env=one_device_env(),
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = np.load(two / "metrics.npz"), np.load(tmp_path / "one" / "metrics.npz")
    assert a["episode_return"].shape == b["episode_return"].shape == (1, 8)
    np.testing.assert_array_equal(a["timesteps"], b["timesteps"])   # every update once
    for name in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(a["episode_return"], b["episode_return"])
    import jax

    import ppo_jax
    _, state_two = ppo_jax.load(two / "checkpoint")
    _, state_one = ppo_jax.load(tmp_path / "one" / "checkpoint")
    for x, y in zip(jax.tree.leaves(state_two.params), jax.tree.leaves(state_one.params), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)
