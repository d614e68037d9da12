"""The suites' returns table: MuJoCo Playground, Jumanji and XLand-MiniGrid presets against
the PPO results their authors published.

    python scripts/suite_returns.py --envs jumanji/Snake-v1 xminigrid/MiniGrid-Empty-6x6 \
        --num-seeds 4 --budget 200000          # CPU budgets: a row per env
    python scripts/suite_returns.py --envs playground/CartpoleBalance --budget 65536 \
        --set num_envs=32 --set num_steps=64   # a GPU-sized preset, shrunk for a CPU
    python scripts/suite_returns.py --table-only

Each row is measured as `scripts/returns_table.py` measures its rows (`train_seeds` of the env's preset,
timed with its compile; each seed's final return, the mean training return over the last
10% of updates; a 95% bootstrap CI over seeds; the minimum; the untrained stochastic
policy's return over 200 episodes, which for a masked env is a near-uniform policy over
the legal actions), written to scripts/results/suite-returns/rows/<suite>/<env>.json.

References: scripts/results/suite-returns/references/<suite>.json, one entry per env:
{"return": the published final return, "budget": its env steps, "source": where}. A row at
a smaller budget than its reference's says so in the table: it is a CPU check of the
preset, not a reproduction. The full budgets are a GPU run (`scripts/gpu_measure.sh
suites`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ppo_jax.analysis.benchmarking import short_commit, write_manifest
from ppo_jax.analysis.statistics import binned_curves, format_return, machine_label
from ppo_jax.cli.common import parse_overrides, split_assignment

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "scripts" / "results" / "suite-returns"
ROWS_DIR = RESULTS / "rows"
REFERENCES_DIR = RESULTS / "references"
SUITES = ("playground", "jumanji", "xminigrid")
UNTRAINED_EPISODES = 200
ROW_FILE = ("every seed's final return, CI, minimum, wall time, untrained return, the overrides, the "
            "reference, machine, versions, git commit, config and learning curve")


def untrained_return(config, seed: int) -> float:
    """Mean return of the freshly initialized agent's stochastic policy (near uniform; over the
    legal actions for a masked env) over 200 episodes."""
    import jax

    import ppo_jax

    agent = ppo_jax.make_trainer(config).init(jax.random.key(seed), config.hparams)
    returns = ppo_jax.evaluate(config, agent, jax.random.key(seed + 1), UNTRAINED_EPISODES, deterministic=False)
    return float(returns.mean())


def load_references(folder: Path = REFERENCES_DIR) -> dict[str, dict]:
    """{env id: {"return", "budget", "source"}} from every references/<suite>.json."""
    refs: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")):
        refs.update(json.loads(path.read_text()))
    return refs


def row_path(env_id: str, rows_dir: Path = ROWS_DIR) -> Path:
    """rows/<suite>/<name>.json for `<suite>/<name>`."""
    return rows_dir / f"{env_id}.json"


def load_rows(rows_dir: Path = ROWS_DIR) -> dict[str, dict]:
    """Every measured row, by env id."""
    rows = {}
    for path in sorted(rows_dir.glob("*/*.json")):
        row = json.loads(path.read_text())
        rows[row["env"]] = row
    return rows


def measure(env_id: str, num_seeds: int, seed: int, overrides: dict, refs: dict[str, dict]) -> dict:
    """The env's row: `train_seeds(preset(env_id, **overrides))` measured as returns_table
    measures a row, with this suite's published reference and the overrides recorded."""
    import jax
    import numpy as np

    import ppo_jax
    from ppo_jax.analysis.benchmarking import device_info, git_state, machine_info
    from ppo_jax.analysis.statistics import bootstrap_ci

    config = ppo_jax.preset(env_id, **overrides)
    t0 = time.perf_counter()
    out = ppo_jax.train_seeds(config, num_seeds=num_seeds, seed=seed)
    jax.block_until_ready(out)
    wall = time.perf_counter() - t0
    finals = np.asarray(out.final_return(), np.float64)
    mean, low, high = bootstrap_ci(finals)
    machine = machine_info()
    row = {
        "env": env_id, "preset": env_id in ppo_jax.preset_envs(), "overrides": overrides,
        "budget": config.steps_run, "num_seeds": num_seeds, "seed": seed,
        "final_return": finals.tolist(), "mean": float(mean), "ci_low": float(low), "ci_high": float(high),
        "min": float(finals.min()), "wall_s": round(wall, 2),
        "untrained_return": untrained_return(config, seed),
        "device": device_info(), "cpu_model": machine["cpu_model"], "cpu_count": machine["cpu_count"],
        "versions": machine["versions"], "git": git_state(), "config": config.to_dict(),
        "curve": binned_curves(out.metrics["episode_return"], config.batch_size),
        "date": time.strftime("%Y-%m-%d"),
    }
    ref = refs.get(env_id) or {}
    row["reference"] = ref.get("return")
    row["reference_budget"] = ref.get("budget")
    row["reference_source"] = ref.get("source")
    return row


def fmt(x) -> str:
    return "" if x is None else format_return(x)


def markdown(rows: dict[str, dict]) -> str:
    """One table, by suite: budget, final return (mean, CI, min), untrained, wall, machine, reference."""
    lines = ["| env | budget | final return: mean [95% CI] | min | untrained | seeds | wall | machine | "
             "published PPO (budget) |", "|---|---:|---|---:|---:|---:|---:|---|---|"]
    for env in sorted(rows, key=lambda e: (SUITES.index(e.split("/")[0]) if e.split("/")[0] in SUITES else 9, e)):
        r = rows[env]
        ref = ""
        if r.get("reference") is not None:
            budget = r.get("reference_budget")
            ref = f"{fmt(r['reference'])}" + (f" ({budget})" if budget else "")
        changed = ", ".join(f"{k}={v}" for k, v in (r.get("overrides") or {}).items()
                            if k not in ("total_timesteps", "env_options"))
        changed = ", ".join(filter(None, [changed] + [f"{k}={v}" for k, v in
                                                      ((r.get("overrides") or {}).get("env_options") or {}).items()]))
        name = f"`{env}`" + (f" ({changed})" if changed else "")
        lines.append(f"| {name} | {r['budget']:,} | {fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}] | "
                     f"{fmt(r['min'])} | {fmt(r['untrained_return'])} | {r['num_seeds']} | "
                     f"{r['wall_s']:,.0f} s | {machine_label(r)} | {ref} |")
    sources = {r["reference_source"] for r in rows.values() if r.get("reference_source")}
    if sources:
        lines += ["", "References: " + "; ".join(sorted(sources)) + "."]
    return "\n".join(lines) + "\n"


def write_outputs(rows: dict[str, dict], results: Path = RESULTS) -> str:
    """suite_returns.md and the folder's manifest, from `rows`."""
    table = markdown(rows)
    (results / "suite_returns.md").write_text(table)
    write_manifest(
        results,
        experiment="MuJoCo Playground, Jumanji and XLand-MiniGrid presets at CPU budgets, against their "
                   "authors' published PPO returns: final return per seed, 95% bootstrap CI, minimum, the "
                   "untrained policy's return.",
        command={"rows/<suite>/<env>.json": "python scripts/suite_returns.py --envs ENV --num-seeds 4 "
                                            "--budget STEPS [--set KEY=VALUE ...] (the row records its "
                                            "overrides)",
                 "suite_returns.md": "python scripts/suite_returns.py --table-only"},
        commit={f"rows/{env}.json": short_commit(rows[env].get("git")) or "not recorded" for env in sorted(rows)},
        commit_source="each row's own git record",
        machine=", ".join(sorted({machine_label(r) for r in rows.values()})) or None,
        files={"suite_returns.md": "the table",
               "references/<suite>.json": "the published returns, their budgets and sources",
               **{f"rows/{env}.json": ROW_FILE for env in sorted(rows)}})
    return table


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=(), metavar="ENV", help="suite env ids to measure")
    p.add_argument("--num-seeds", type=int, default=4, help="seeds per env (default 4)")
    p.add_argument("--seed", type=int, default=1000, help="seed set (default 1000)")
    p.add_argument("--budget", type=int, default=None, help="env steps per agent instead of the preset's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset setting (static or HParams), e.g. --set num_envs=64; repeatable; "
                        "recorded in the row and shown in the table")
    p.add_argument("--env-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a suite option (env_options) as an integer, e.g. --env-option action_repeat=4")
    p.add_argument("--table-only", action="store_true", help="only redraw the table")
    return p.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.num_seeds < 2:
        raise SystemExit("--num-seeds must be at least 2 (a CI needs seeds)")
    refs = load_references()
    if not args.table_only:
        for env in args.envs:
            if env.split("/")[0] not in SUITES:
                valid = ", ".join(suite + "/<id>" for suite in SUITES)
                raise SystemExit(f"--envs {env!r}: not a suite of this table ({valid})")
            overrides = parse_overrides(args.set)
            if args.env_option:
                overrides["env_options"] = {k: int(v) for k, v in
                                            (split_assignment(text, "--env-option") for text in args.env_option)}
            if args.budget is not None:
                overrides["total_timesteps"] = args.budget
            row = measure(env, args.num_seeds, args.seed, overrides, refs)
            path = row_path(env)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(row, indent=1) + "\n")
            print(f"{env}: {fmt(row['mean'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}], min {fmt(row['min'])}, "
                  f"untrained {fmt(row['untrained_return'])}, {row['wall_s']:.0f} s", flush=True)
    table = write_outputs(load_rows())
    print(table)
    return table


if __name__ == "__main__":
    main()
