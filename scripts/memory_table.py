"""The memory table: MLP against GRU and LSTM on tasks that need memory, same budget each.

    python scripts/memory_table.py [--num-seeds 8] [--tasks ...] [--networks mlp gru lstm]

Tasks (each from its preset, which is the recurrent setting; the MLP row uses
the same settings with network="mlp" and two hidden layers of the encoder's width):
  MaskedCartPole-v1   CartPole without its velocities (positions only), 1M steps
  MemoryChain-bsuite  bsuite's memory chain (a context bit shown at the first
                      step, asked for at the last), gymnax's default length
  CueMemory-k10       the memory probe (`ppo_jax.envs.probes.CueMemoryEnv`): a cue at step 0
                      says which of two actions pays at step 10 (chance 0.5)

For every (task, network): `train_seeds(config, num_seeds, seed=0)`, the final
return of each seed (`ppo_jax.analysis.statistics.final_return`: the mean training
return over the last 10% of updates) and, for the probe, the greedy policy's
mean return over 200 `evaluate` episodes. Writes scripts/results/memory-table/memory_table.json
and .md (mean, min, wall time) and the folder's manifest.json, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

import ppo_jax
from ppo_jax.analysis.benchmarking import device_info, write_manifest
from ppo_jax.envs.probes import CueMemoryEnv

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE = "CueMemory-k10"
# The probe is no gymnax id (`ppo_jax.envs.probes.CueMemoryEnv`), so it has no preset: its settings.
PROBE_SETTINGS = {"network": "gru", "total_timesteps": 40_960, "num_envs": 8, "num_steps": 64,
                  "num_minibatches": 4, "hidden_sizes": (32,), "rnn_size": 32, "learning_rate": 3e-3}
TASKS = ("MaskedCartPole-v1", "MemoryChain-bsuite", PROBE)


def task_config(task: str, network: str) -> tuple[ppo_jax.PPOConfig, object]:
    """(config, env instance or None) of `task` for `network`."""
    if task == PROBE:
        config, env = ppo_jax.PPOConfig().replace(**PROBE_SETTINGS), CueMemoryEnv(10)
    else:
        config, env = ppo_jax.preset(task), None
    if network == "mlp":
        width = config.hidden_sizes[-1]
        config = config.replace(network="mlp", hidden_sizes=(width, width), sequence_length=0)
    else:
        config = config.replace(network=network)
    return config, env


def run(task: str, network: str, num_seeds: int) -> dict:
    config, env = task_config(task, network)
    t0 = time.perf_counter()
    out = ppo_jax.train_seeds(config, num_seeds=num_seeds, seed=0, env=env)
    jax.block_until_ready(out)
    wall = time.perf_counter() - t0
    final = np.asarray(out.final_return(), np.float64)
    row = {"task": task, "network": network, "num_seeds": num_seeds, "steps": config.steps_run,
           "final_return": final.tolist(), "mean": float(final.mean()), "min": float(final.min()),
           "wall_s": wall}
    if task == PROBE:  # the greedy policy of each seed, on 200 episodes
        greedy = []
        for i in range(num_seeds):
            state = jax.tree.map(lambda x, i=i: x[i], out.state)
            greedy.append(float(ppo_jax.evaluate(config, state, jax.random.key(100 + i), 200,
                                                 env=env).mean()))
        row["greedy_return"] = greedy
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| task | budget | network | final return: mean (min) | seeds | wall time |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        extra = ""
        if "greedy_return" in r:
            g = np.asarray(r["greedy_return"])
            extra = f"; greedy {g.mean():.3f} ({g.min():.3f})"
        lines.append(f"| `{r['task']}` | {r['steps']:,} | {r['network']} | {r['mean']:.3f} "
                     f"({r['min']:.3f}){extra} | {r['num_seeds']} | {r['wall_s']:.0f} s |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-seeds", type=int, default=8)
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--networks", nargs="+", default=["mlp", "gru", "lstm"], choices=["mlp", "gru", "lstm"])
    p.add_argument("--out", type=Path,
                   default=REPO_ROOT / "scripts" / "results" / "memory-table" / "memory_table")
    args = p.parse_args(argv)
    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        for network in args.networks:
            rows.append(run(task, network, args.num_seeds))
            print(markdown(rows[-1:]).splitlines()[-1], flush=True)
            args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))  # after every row
    table = markdown(rows)
    args.out.with_suffix(".md").write_text(table + "\n")
    write_manifest(
        args.out.parent,
        experiment=f"Memory tasks ({', '.join(args.tasks)}): {', '.join(args.networks)} at the same budget, "
                   f"{args.num_seeds} seeds each, final return (and the probe's greedy return).",
        files={args.out.with_suffix(".md").name: "the table: mean and minimum final return, wall time",
               args.out.with_suffix(".json").name: "every row with every seed's final return"},
        device=device_info())
    print(table)
    return rows


if __name__ == "__main__":
    main()
