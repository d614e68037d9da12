"""Does PBT pay? PBT against the best configuration of a random search, and PBT's overhead.

    python scripts/bench_pbt.py                       # the docs' PBT cost figures (about 12 min on 2 CPU cores)
    python scripts/bench_pbt.py --rounds 1 --procedures 2 --updates 20   # a smoke run

Task: Acrobot-v1 (its preset) with the learning rate drawn log-uniformly from
[1e-5, 1e-1] and ent_coef from [0, 0.1], a space where most draws are poor.
Each *procedure* (one seed of the whole method) has a population of P members
and the same budget per member (--updates x 1024 env steps):

  random search: P configurations from `ppo_jax.random_search(space, P)`,
    each trained once; its score is the best configuration's final return.
  PBT: `ppo_jax.pbt` with P members drawn from the same space, ready_every
    --ready-every; its score is the best member's final return.

Final return = the mean episode_return over the last 10% of updates
(`ppo_jax.analysis.statistics.final_return`), so both scores pick the best of P curves
the same way. Each round runs --procedures procedures of each method in one
call (random search: one `sweep` of procedures x P configurations; PBT:
num_seeds=procedures), random search first, then PBT, so the two calls train
the same number of members for the same budget: their wall times give PBT's
overhead. Round 1's times include compilation; later rounds reuse the compiled
programs, so their ratio is the run-time overhead.

Writes one JSON line per (round, method) and a summary line (means with 95%
bootstrap CIs, the difference of means with its CI, the time ratios) to
scripts/results/bench-pbt/results.jsonl, and the folder's manifest.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import ppo_jax
from ppo_jax.analysis.benchmarking import device_info, write_manifest
from ppo_jax.analysis.statistics import bootstrap_ci, final_return

REPO_ROOT = Path(__file__).resolve().parent.parent

SPACE = {"learning_rate": (1e-5, 1e-1, "log"), "ent_coef": (0.0, 0.1)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="Acrobot-v1")
    p.add_argument("--updates", type=int, default=100, help="updates per member")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--ready-every", type=int, default=10)
    p.add_argument("--procedures", type=int, default=8, help="procedures (seeds of a method) per round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (round 1 compiles)")
    p.add_argument("--out", type=Path,
                   default=REPO_ROOT / "scripts" / "results" / "bench-pbt" / "results.jsonl")
    return p


def run_random_search(config, population: int, procedures: int, round_index: int):
    """(final returns [procedures, population], (wall, CPU) seconds, compiles)."""
    configs = [c for r in range(procedures)
               for c in ppo_jax.random_search(SPACE, population, seed=1000 * round_index + r)]
    start = time.perf_counter(), time.process_time()
    res = ppo_jax.sweep(config, configs, num_seeds=1, seed=round_index)
    seconds = time.perf_counter() - start[0], time.process_time() - start[1]
    finals = res.final_returns()[:, 0].reshape(procedures, population)
    return finals, seconds, res.num_compiles


def run_pbt(config, population: int, ready_every: int, procedures: int, round_index: int):
    start = time.perf_counter(), time.process_time()
    res = ppo_jax.pbt(config, SPACE, population=population, ready_every=ready_every,
                      num_seeds=procedures, seed=round_index)
    seconds = time.perf_counter() - start[0], time.process_time() - start[1]
    return final_return(res.metrics["episode_return"]), seconds, res.num_compiles


def summarize(best: dict[str, np.ndarray], times: dict[str, list[float]]) -> dict:
    """Means and 95% bootstrap CIs per method, the difference of means, time ratios."""
    out = {}
    for method, values in best.items():
        mean, low, high = bootstrap_ci(values[:, None])
        out[method] = {"mean": float(mean[0]), "ci_low": float(low[0]), "ci_high": float(high[0]),
                       "median": float(np.median(values)), "n": int(values.size)}
    rng = np.random.default_rng(0)
    a, b = best["pbt"], best["random_search"]
    diffs = [rng.choice(a, a.size).mean() - rng.choice(b, b.size).mean() for _ in range(10_000)]
    out["pbt_minus_random_search"] = {"mean": float(a.mean() - b.mean()),
                                      "ci_low": float(np.percentile(diffs, 2.5)),
                                      "ci_high": float(np.percentile(diffs, 97.5))}
    for kind, i in (("wall", 0), ("cpu", 1)):
        ratios = [p[i] / s[i] for p, s in zip(times["pbt"], times["random_search"], strict=True)]
        out[f"{kind}_time_ratio_pbt_over_sweep_round1_with_compile"] = round(ratios[0], 3)
        out[f"{kind}_time_ratio_pbt_over_sweep_compiled"] = [round(r, 3) for r in ratios[1:]]
        if len(ratios) > 1:
            out[f"{kind}_time_ratio_pbt_over_sweep_compiled_median"] = round(float(np.median(ratios[1:])), 3)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    config = ppo_jax.preset(args.env, total_timesteps=args.updates * ppo_jax.preset(args.env).batch_size)
    setup = {"env": args.env, "space": {k: list(v) for k, v in SPACE.items()},
             "updates": config.num_updates, "steps_per_member": config.num_updates * config.batch_size,
             "population": args.population, "ready_every": args.ready_every,
             "procedures_per_round": args.procedures}
    best = {"random_search": [], "pbt": []}
    times = {"random_search": [], "pbt": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        for round_index in range(args.rounds):
            for method in ("random_search", "pbt"):
                if method == "pbt":
                    finals, seconds, compiles = run_pbt(config, args.population, args.ready_every,
                                                        args.procedures, round_index)
                else:
                    finals, seconds, compiles = run_random_search(config, args.population,
                                                                  args.procedures, round_index)
                best[method].extend(np.nanmax(finals, axis=1).tolist())
                times[method].append(seconds)
                line = {"round": round_index + 1, "method": method, **setup, "seconds": round(seconds[0], 2),
                        "cpu_seconds": round(seconds[1], 2),
                        "num_compiles": compiles,
                        "best_final_return": np.nanmax(finals, axis=1).round(2).tolist(),
                        "final_returns": np.round(finals, 2).tolist()}
                f.write(json.dumps(line) + "\n")
                f.flush()
                print(f"round {round_index + 1} {method}: {seconds[0]:.1f} s wall, {seconds[1]:.1f} s CPU "
                      f"({compiles} compile(s)), best "
                      f"per procedure {np.round(np.nanmax(finals, axis=1), 1).tolist()}", flush=True)
        summary = {"summary": True, **setup, "rounds": args.rounds,
                   "machine": "2-core CPU, shared with other jobs (timings noisy)",
                   **summarize({k: np.asarray(v) for k, v in best.items()}, times)}
        f.write(json.dumps(summary) + "\n")
    write_manifest(
        args.out.parent,
        experiment=f"PBT against the best configuration of a random search on {args.env} "
                   f"({args.rounds} rounds x {args.procedures} procedures of each, population "
                   f"{args.population}), and PBT's overhead over a sweep of the same members.",
        files={args.out.name: "one row per (round, method): wall and CPU seconds, compiles, each "
                              "procedure's best final return; then a summary row (means with 95% "
                              "bootstrap CIs, their difference, time ratios)"},
        device=device_info())
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
