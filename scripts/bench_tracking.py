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
import functools
import json
import os
import statistics
import tempfile
import time

import jax

import ppo_jax
from ppo_jax.analysis.benchmarking import device_info, time_alternating, write_manifest
from ppo_jax.tracking.loggers import JsonlLogger, TensorBoardLogger, WandbLogger

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
        lines = []

        def on_run(i: int, name: str, wall: float, cpu_s: float) -> None:
            lines.append({"round": i, "variant": name, "seconds": round(wall, 4),
                          "cpu_seconds": round(cpu_s, 4)})
            print(f"round {i} {name}: {wall:.2f}s wall, {cpu_s:.2f}s cpu", flush=True)

        programs = {name: (functools.partial(ppo_jax.train_seeds, cfg, args.num_seeds, logger=logger), ())
                    for name, (cfg, logger) in runs.items()}
        times, cpu = time_alternating(programs, args.repeats, on_run=on_run)
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
        f.writelines(json.dumps(line) + "\n" for line in lines + [summary])
    write_manifest(
        os.path.dirname(os.path.abspath(args.out)),
        experiment=f"Cost of evaluation during training and of each logger (JSON lines, TensorBoard, W&B "
                   f"offline) as wall- and CPU-time ratios against a plain run: {config.env} preset, "
                   f"{args.num_seeds} seeds, {config.num_updates} updates, "
                   f"{args.repeats} alternating rounds.",
        files={os.path.basename(args.out): "one row per timed run (round, variant, wall and CPU seconds) and "
                                           "a summary row"},
        device=device_info(), **({"notes": args.note} if args.note else {}))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
