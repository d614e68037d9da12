"""Recurrent PPO's run time over the MLP's, on CartPole-v1 at the same budget, in one process.

    python scripts/bench_recurrent.py [--rounds 3] [--num-seeds 1] [--out FILE]

Each network is compiled once and run once to warm up; then the timed runs
alternate between them (`ppo_jax.analysis.benchmarking.time_alternating`:
forwards, then backwards, ...) so that load changes on a shared machine hit
all alike. Settings: `PPOConfig()`'s (4 envs x 128 steps, 4 epochs x 4
minibatches, 499,712 steps). The MLP is the default
64x64 tanh actor and critic; "gru" and "lstm" are PureJaxRL ppo_rnn's
network: a 128-unit relu encoder, a 128-unit cell and 128-unit heads,
backpropagated through whole 128-step rollouts (minibatches of one env's
sequence each). Reported: median wall seconds per run and the ratio to the MLP.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax

import ppo_jax
from ppo_jax.analysis.benchmarking import (
    append_jsonl,
    device_info,
    time_alternating,
    write_manifest,
)

RECURRENT = {"hidden_sizes": (128,), "activation": "relu", "rnn_size": 128}


def configs(total_timesteps: int) -> dict[str, ppo_jax.PPOConfig]:
    base = ppo_jax.PPOConfig(total_timesteps=total_timesteps)
    return {"mlp": base, "gru": base.replace(network="gru", **RECURRENT),
            "lstm": base.replace(network="lstm", **RECURRENT)}


def program(config: ppo_jax.PPOConfig, num_seeds: int):
    """(compiled train over num_seeds seeds, its key argument)."""
    train = ppo_jax.make_train(config)
    keys = jax.random.split(jax.random.key(0), num_seeds)
    fn = jax.jit(train) if num_seeds == 1 else jax.jit(jax.vmap(train))
    args = keys[0] if num_seeds == 1 else keys
    return fn.lower(args).compile(), args


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--num-seeds", type=int, default=1)
    p.add_argument("--total-timesteps", type=int, default=499_712)
    p.add_argument("--networks", nargs="+", default=["mlp", "gru", "lstm"])
    p.add_argument("--out", type=Path, default=None, help="append a JSON line here")
    args = p.parse_args(argv)
    runs, compile_s, final = {}, {}, {}
    for name, config in configs(args.total_timesteps).items():
        if name not in args.networks:
            continue
        t0 = time.perf_counter()
        runs[name] = program(config, args.num_seeds)
        compile_s[name] = time.perf_counter() - t0
        out = jax.block_until_ready(runs[name][0](runs[name][1]))  # warm-up
        final[name] = float(out.final_return().mean())
    wall, cpu = time_alternating({name: (executable, (keys,)) for name, (executable, keys) in runs.items()},
                                 args.rounds)
    median = {name: statistics.median(v) for name, v in wall.items()}
    record = {"record": "bench_recurrent", "env": "CartPole-v1", "num_seeds": args.num_seeds,
              "total_timesteps": args.total_timesteps, "rounds": args.rounds, "compile_s": compile_s,
              "run_s": wall, "run_cpu_s": cpu, "median_run_s": median, "final_return": final,
              "over_mlp": {name: median[name] / median["mlp"] for name in median} if "mlp" in median else {}}
    for name, run_s in median.items():
        ratio = f", {record['over_mlp'][name]:.2f}x the MLP" if record["over_mlp"] else ""
        print(f"{name}: {run_s:.2f} s per run (median of {args.rounds}){ratio}; "
              f"compile {compile_s[name]:.1f} s; final return {final[name]:.1f}", flush=True)
    if args.out is not None:
        append_jsonl(args.out, record)
        write_manifest(
            args.out.parent,
            experiment=f"Recurrent PPO's run time over the MLP's on CartPole-v1 at {args.total_timesteps:,} "
                       f"steps, {args.num_seeds} seed(s), one process, alternating runs.",
            files={args.out.name: "one row per run of the script, appended: compile and run times per "
                                  "network, medians, final returns, ratios over the MLP"},
            device=device_info())
    return record


if __name__ == "__main__":
    main()
