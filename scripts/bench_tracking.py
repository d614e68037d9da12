"""Cost of evaluation during training and of each logger, as ratios against a plain run.

    python scripts/bench_tracking.py                          # CartPole, 8 seeds, 100k steps
    python scripts/bench_tracking.py --num-seeds 64 --repeats 5

Every variant trains the same population (`train_seeds`) in one process: plain,
evaluation every `--eval-every` updates (`--eval-episodes` episodes, deterministic),
and each logger (JSON lines, TensorBoard, W&B offline) logging every agent at every
update. Each variant is run once first (compile, not timed); then rounds alternate
the order of the variants, so that load changes on a shared machine hit all alike.
Measures wall time and process CPU time (all threads of this process; other
processes' load disturbs it less, but it leaves out W&B's own service process).
Writes one JSON line per timed run and a summary line (medians and the ratios
of medians against "plain") to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import jax

import ppo_jax
from ppo_jax.loggers import JsonlLogger, TensorBoardLogger, WandbLogger

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def variants(config: ppo_jax.PPOConfig, logdir: str, eval_every: int, eval_episodes: int) -> dict:
    """name -> (config, logger)."""
    os.environ.setdefault("WANDB_SILENT", "true")
    return {
        "plain": (config, None),
        f"eval_every_{eval_every}": (config.replace(eval_every=eval_every, eval_episodes=eval_episodes),
                                     None),
        "jsonl": (config, JsonlLogger(os.path.join(logdir, "m.jsonl"))),
        "tensorboard": (config, TensorBoardLogger(logdir)),
        "wandb_offline": (config, WandbLogger(mode="offline", dir=logdir, project="bench")),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-seeds", type=int, default=8)
    parser.add_argument("--total-timesteps", type=int, default=102_400)  # 200 updates of 512
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(RESULTS, "tracking-cost", "results.jsonl"))
    parser.add_argument("--note", default="", help="free text stored with the results (e.g. the machine)")
    args = parser.parse_args(argv)
    config = ppo_jax.preset(args.env, total_timesteps=args.total_timesteps)
    with tempfile.TemporaryDirectory() as logdir:
        runs = variants(config, logdir, args.eval_every, args.eval_episodes)
        for name, (cfg, logger) in runs.items():  # compile (and open the trackers): not timed
            t = time.perf_counter()
            jax.block_until_ready(ppo_jax.train_seeds(cfg, args.num_seeds, logger=logger))
            print(f"{name}: first run (compile) {time.perf_counter() - t:.1f}s", flush=True)
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        lines = []
        for i in range(args.repeats):
            order = list(runs) if i % 2 == 0 else list(reversed(runs))
            for name in order:
                cfg, logger = runs[name]
                t, c = time.perf_counter(), time.process_time()
                jax.block_until_ready(ppo_jax.train_seeds(cfg, args.num_seeds, logger=logger))
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
                lines.append({"round": i, "variant": name, "seconds": round(times[name][-1], 4),
                              "cpu_seconds": round(cpu[name][-1], 4)})
                print(f"round {i} {name}: {times[name][-1]:.2f}s wall, {cpu[name][-1]:.2f}s cpu",
                      flush=True)
        for _, logger in runs.values():
            if logger is not None:
                logger.close()
    medians = {name: statistics.median(t) for name, t in times.items()}
    cpu_medians = {name: statistics.median(t) for name, t in cpu.items()}
    summary = {
        "summary": True, "env": config.env, "num_seeds": args.num_seeds,
        "num_updates": config.num_updates, "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes, "repeats": args.repeats,
        "device": str(jax.devices()[0]), "note": args.note,
        "median_s": {k: round(v, 4) for k, v in medians.items()},
        "ratio_to_plain": {k: round(v / medians["plain"], 4) for k, v in medians.items()},
        "median_cpu_s": {k: round(v, 4) for k, v in cpu_medians.items()},
        "cpu_ratio_to_plain": {k: round(v / cpu_medians["plain"], 4) for k, v in cpu_medians.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        for line in lines + [summary]:
            f.write(json.dumps(line) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
