"""Cost of the live progress bar: the same population trained with and without it.

    python scripts/bench_progress.py                      # CartPole defaults, 64 seeds
    python scripts/bench_progress.py --total-timesteps 100000 --repeats 5

Both programs are compiled ahead of time (compile time is not counted); then
runs alternate off/on so that load changes on a shared machine hit both
alike. Reports the median wall time of each and the ratio on/off, and the
same for process CPU time (all threads), which other processes' load on a
shared machine disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import time

import jax

import ppo_jax
from ppo_jax.analysis.benchmarking import time_alternating
from ppo_jax.tracking.progress import report_every
from ppo_jax.train import seed_keys


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-seeds", type=int, default=64)
    parser.add_argument("--total-timesteps", type=int, default=None,
                        help="default: the env preset's (CartPole: 499712)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=None,
                        help="updates between reports (default: the ProgressBar default, ~200 per run)")
    parser.add_argument("--show-bar", action="store_true", help="draw the bar on stderr (default: "
                        "drawn into a buffer: the full cost of formatting, none of the terminal's)")
    args = parser.parse_args(argv)
    overrides = {} if args.total_timesteps is None else {"total_timesteps": args.total_timesteps}
    config = ppo_jax.preset(args.env, **overrides)
    bar = ppo_jax.ProgressBar(backend="text", every=args.every,
                              **({} if args.show_bar else {"file": io.StringIO()}))
    programs = {
        "off": jax.jit(jax.vmap(ppo_jax.make_train(config), in_axes=(0, None))),
        "on": jax.jit(jax.vmap(ppo_jax.make_train(config, progress=bar), in_axes=(0, None))),
    }
    keys = seed_keys(0, args.num_seeds)
    hparams = jax.tree.map(jax.numpy.asarray, config.hparams)
    for name, fn in list(programs.items()):
        t = time.perf_counter()
        programs[name] = fn.lower(keys, hparams).compile()
        print(f"{name}: compiled in {time.perf_counter() - t:.1f}s", flush=True)
    times, cpu = time_alternating(
        {name: (programs[name], (keys, hparams)) for name in ("off", "on")}, args.repeats,
        on_run=lambda i, name, wall, cpu_s: print(f"repeat {i} {name}: {wall:.2f}s wall, {cpu_s:.2f}s cpu",
                                                  flush=True))
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    result = {
        "env": config.env, "num_seeds": args.num_seeds, "num_updates": config.num_updates,
        "total_timesteps": config.total_timesteps, "device": str(jax.devices()[0]),
        "off_s": times["off"], "on_s": times["on"], "median_off_s": off, "median_on_s": on,
        "ratio_on_off": on / off, "cpu_off_s": cpu["off"], "cpu_on_s": cpu["on"],
        "cpu_ratio_on_off": cpu_on / cpu_off,
        "callbacks_per_run": math.ceil(config.num_updates / report_every(bar, config.num_updates)),
    }
    print(json.dumps(result, indent=2))
    print(f"progress bar overhead: {100 * (on / off - 1):+.2f}% ({on:.2f}s vs {off:.2f}s, median of "
          f"{args.repeats}, {config.num_updates} updates x {args.num_seeds} seeds); CPU time "
          f"{100 * (cpu_on / cpu_off - 1):+.2f}%")
    return result


if __name__ == "__main__":
    main()
