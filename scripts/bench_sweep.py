"""Speed of `ppo_jax.sweep` against the same runs done one after another.

    python scripts/bench_sweep.py                         # 16 configs x 8 seeds, CartPole-v1
    python scripts/bench_sweep.py --total-timesteps 500000 --out scripts/results/bench-sweep-gpu/results.json

The grid: learning_rate {1e-4, 3e-4, 1e-3, 3e-3} x clip_eps {0.1, 0.2} x
ent_coef {0, 0.01} = 16 configurations, 8 seeds each: 128 runs of
`ppo_jax.preset(env, total_timesteps=...)`.

  sweep        one `ppo_jax.sweep` call (one compile, the 128 runs vmapped and
               sharded over all devices), then the same call again with other
               values for the same keys (cached: run only).
  sequential   `jax.jit(make_train(config))` called 128 times, one run after
               another, each waited for; shapes are equal, so it compiles once
               (on the first call), and that compile is counted.

Each mode runs in a fresh Python process, so neither reuses the other's
caches. Reported: wall-clock seconds with compile included (the headline
ratio), compile alone, run alone, the process CPU time (steadier than wall
time on a shared machine), and whether both modes' returns agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from ppo_jax.analysis.benchmarking import Clock, write_manifest

GRID = {"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3], "clip_eps": [0.1, 0.2], "ent_coef": [0.0, 0.01]}
OTHER_GRID = {"learning_rate": [2e-4, 5e-4, 2e-3, 5e-3], "clip_eps": [0.15, 0.3], "ent_coef": [0.0, 0.005]}


def run_sweep(config, num_seeds: int) -> dict:
    import numpy as np

    from ppo_jax import sweep

    clock = Clock()
    res = sweep(config, GRID, num_seeds=num_seeds, seed=0)  # metrics are on the host when it returns
    total, total_cpu = clock.lap()
    again = sweep(config, OTHER_GRID, num_seeds=num_seeds, seed=1)
    run, run_cpu = clock.lap()
    assert res.num_compiles == 1 and again.num_compiles == 0
    return {"total_s": total, "run_s": run, "compile_s": total - run,
            "total_cpu_s": total_cpu, "run_cpu_s": run_cpu,
            "episode_return": np.asarray(res.metrics["episode_return"]).tolist()}


def run_sequential(config, num_seeds: int) -> dict:
    import jax
    import numpy as np

    import ppo_jax
    from ppo_jax.population.grids import expand_grid
    from ppo_jax.train import seed_keys

    train = jax.jit(ppo_jax.make_train(config))
    keys = seed_keys(0, num_seeds)
    returns, laps = [], []
    clock = Clock()
    for settings in expand_grid(GRID):
        hparams = jax.tree.map(np.float32, config.replace(**settings).hparams)
        for s in range(num_seeds):
            returns.append(np.asarray(train(keys[s], hparams).metrics["episode_return"]))
            laps.append(clock.lap())
    (total, total_cpu), n = np.sum(laps, axis=0), len(laps)
    run, run_cpu = np.sum(laps[1:], axis=0) * n / (n - 1)  # call 1 compiles: the others' mean
    return {"total_s": total, "run_s": run, "compile_s": total - run,
            "total_cpu_s": total_cpu, "run_cpu_s": run_cpu,
            "episode_return": np.stack(returns).reshape(n // num_seeds, num_seeds, -1).tolist()}


def child(args) -> None:
    import jax

    import ppo_jax

    jax.config.update("jax_enable_compilation_cache", False)  # compile time is part of the figure
    config = ppo_jax.preset(args.env, total_timesteps=args.total_timesteps)
    result = (run_sweep if args.child == "sweep" else run_sequential)(config, args.num_seeds)
    result["devices"] = [str(d) for d in jax.devices()]
    result["num_updates"] = config.num_updates
    print("RESULT " + json.dumps(result))


def agreement(a, b) -> dict:
    """How far the sweep's runs (a) and the sequential runs (b) agree: [configs, seeds, updates].

    Batched and unbatched float32 arithmetic round differently, and RL amplifies
    that over many updates, so long runs drift apart while staying statistically alike.
    """
    import numpy as np

    same = np.isclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)
    # updates before the first mismatch
    leading = np.where(same.all(-1), same.shape[-1], np.argmin(same, axis=-1))
    from ppo_jax.analysis.statistics import final_return

    final = lambda x: float(np.nanmean(final_return(x)))
    return {"runs_identical": int(same.all(-1).sum()), "runs": int(same[..., 0].size),
            "leading_identical_updates_median": float(np.median(leading)),
            "final_return_sweep": final(a), "final_return_sequential": final(b)}


def measure(mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--env", args.env,
           "--total-timesteps", str(args.total_timesteps), "--num-seeds", str(args.num_seeds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"{mode} failed:\n{proc.stderr[-4000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--total-timesteps", type=int, default=50_000,
                   help="per run; the CartPole preset trains 499712 (reduced here for CPU)")
    p.add_argument("--num-seeds", type=int, default=8)
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    p.add_argument("--child", choices=("sweep", "sequential"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    import numpy as np

    sweep_r, seq_r = measure("sweep", args), measure("sequential", args)
    a, b = np.asarray(sweep_r.pop("episode_return")), np.asarray(seq_r.pop("episode_return"))
    runs = a.shape[0] * a.shape[1]
    report = {
        "env": args.env, "total_timesteps": args.total_timesteps, "num_updates": sweep_r["num_updates"],
        "configs": a.shape[0], "seeds": a.shape[1], "devices": sweep_r["devices"],
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_avg": os.getloadavg()},
        "sweep": sweep_r, "sequential": seq_r,
        "ratio_compile_included": seq_r["total_s"] / sweep_r["total_s"],
        "ratio_run_only": seq_r["run_s"] / sweep_r["run_s"],
        "cpu_ratio_compile_included": seq_r["total_cpu_s"] / sweep_r["total_cpu_s"],
        "agreement": agreement(a, b),
    }
    print(f"{args.env}: {a.shape[0]} configs x {a.shape[1]} seeds = {runs} runs of "
          f"{args.total_timesteps} steps ({report['num_updates']} updates), devices {sweep_r['devices']}")
    print(f"{'':12s}{'wall, compile incl.':>21s}{'compile':>9s}{'run':>9s}{'CPU time, compile incl.':>25s}")
    for name, r in (("sweep", sweep_r), ("sequential", seq_r)):
        print(f"{name:12s}{r['total_s']:20.1f}s{r['compile_s']:8.1f}s{r['run_s']:8.1f}s"
              f"{r['total_cpu_s']:24.1f}s")
    print(f"sequential / sweep: wall-clock {report['ratio_compile_included']:.2f}x compile included "
          f"({report['ratio_run_only']:.2f}x run only), "
          f"CPU time {report['cpu_ratio_compile_included']:.2f}x; "
          f"load average {report['machine']['load_avg']}")
    print("agreement of the same runs: " + json.dumps(report["agreement"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        write_manifest(
            args.out.parent,
            experiment=f"ppo_jax.sweep against the same {runs} runs done one after another on {args.env} "
                       f"({a.shape[0]} configs x {a.shape[1]} seeds, {args.total_timesteps:,} steps each).",
            files={args.out.name: "wall and CPU seconds of both modes (compile and run), their ratios, the "
                                  "machine and whether the two modes' returns agree"},
            device=", ".join(sweep_r["devices"]))


if __name__ == "__main__":
    main()
