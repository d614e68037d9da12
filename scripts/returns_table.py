"""The returns table: each gymnax env's preset against gymnax's published PPO returns.

    python scripts/returns_table.py                          # every env, 8 seeds (4 MinAtar)
    python scripts/returns_table.py --envs Catch-bsuite CartPole-v1 --num-seeds 16
    python scripts/returns_table.py --table-only             # redraw table, aggregate and figure

For each env: `train_seeds(preset(env), num_seeds, seed=0)`, timed (compiling
included); each seed's final return (`ppo_jax.analysis.statistics.final_return`: the mean
training episode_return over the last 10% of updates); their mean with a 95%
percentile-bootstrap CI over seeds, and their minimum; and the return of the
untrained agent's stochastic policy (near uniform) over 200 episodes, the 0 of
the normalized score.

MNISTBandit-bsuite is left out: gymnax loads MNIST from the internet.

One file per env, scripts/results/returns-table/rows/<env>.json, so that rows measured on
another machine (a GPU: `bash scripts/gpu_measure.sh table:Breakout-MinAtar`)
merge by copying the file. From all of them: scripts/results/returns-table/returns_table.md
(the table and the aggregate, also put into the docs' results page between its
returns-table markers) and returns_curves.png (learning curves).

The aggregate is rliable's: the interquartile mean of normalized scores,
(final return - untrained) / (reference - untrained), over every (env, seed)
of the envs with a reference above the untrained policy's return (DeepSea's
cannot anchor a score: NOT_ANCHORS), with a 95% stratified-bootstrap CI
(seeds resampled within each env).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from ppo_jax.analysis.benchmarking import short_commit, write_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "scripts" / "results" / "returns-table"
ROWS_DIR = RESULTS / "rows"

# PPO's final returns in gymnax's README (its gymnax-blines baselines), at the
# budgets below. MemoryChain's 0.1 is a memoryless policy's.
REFERENCES = {
    "CartPole-v1": 500.0, "Pendulum-v1": -130.0, "Acrobot-v1": -80.0, "MountainCar-v0": -118.0,
    "MountainCarContinuous-v0": 92.0, "Asterix-MinAtar": 15.0, "Breakout-MinAtar": 28.0,
    "Freeway-MinAtar": 58.0, "SpaceInvaders-MinAtar": 131.0, "Catch-bsuite": 1.0,
    "DeepSea-bsuite": 0.0, "MemoryChain-bsuite": 0.1, "UmbrellaChain-bsuite": 1.0,
    "DiscountingChain-bsuite": 1.1, "FourRooms-misc": 1.0,
}
# Envs whose reference cannot anchor a normalized score, and why.
NOT_ANCHORS = {
    "DeepSea-bsuite": "its reference, 0, is the return of a policy that never reaches the treasure, "
                      "as the untrained one's (-0.005) nearly is, so (score - untrained) / (0 - untrained) "
                      "would make a found treasure worth 200",
}
GROUPS = (("classic control", ("CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0",
                               "MountainCarContinuous-v0")),
          ("MinAtar", ("Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar",
                       "SpaceInvaders-MinAtar", "Seaquest-MinAtar")),
          ("bsuite", ("Catch-bsuite", "DeepSea-bsuite", "MemoryChain-bsuite", "UmbrellaChain-bsuite",
                      "DiscountingChain-bsuite", "SimpleBandit-bsuite")),
          ("misc", ("FourRooms-misc", "MetaMaze-misc", "PointRobot-misc", "BernoulliBandit-misc",
                    "GaussianBandit-misc", "Reacher-misc", "Swimmer-misc", "Pong-misc",
                    "FrozenLake-misc")))
ENVS = tuple(env for _, envs in GROUPS for env in envs)
MINATAR_SEEDS, DEFAULT_SEEDS = 4, 8
CURVE_POINTS = 100
UNTRAINED_EPISODES = 200


def row_path(env_id: str, rows_dir: Path = ROWS_DIR) -> Path:
    return rows_dir / f"{env_id}.json"


def curve(episode_return, batch_size: int, points: int = CURVE_POINTS) -> dict:
    """Per-seed learning curves [S, U] averaged into at most `points` bins of updates."""
    from ppo_jax.analysis.statistics import binned_curves

    return binned_curves(episode_return, batch_size, points)


def untrained_return(config, seed: int) -> float:
    """Mean return of the freshly initialized agent's stochastic policy (near uniform)."""
    import jax

    import ppo_jax
    from ppo_jax.core.context import make_context
    from ppo_jax.core.iteration import init_state

    state = init_state(make_context(config), jax.random.key(seed), config.hparams)
    returns = ppo_jax.evaluate(config, state, jax.random.key(seed + 1), UNTRAINED_EPISODES,
                               deterministic=False)
    return float(returns.mean())


def measure(env_id: str, num_seeds: int, seed: int = 0, budget: int | None = None) -> dict:
    """Trains the preset's population (at `budget` steps per agent, if given) and returns the env's row."""
    import jax
    import numpy as np

    import ppo_jax
    from ppo_jax.analysis.benchmarking import device_info, git_state, machine_info
    from ppo_jax.analysis.statistics import bootstrap_ci

    config = ppo_jax.preset(env_id) if budget is None else ppo_jax.preset(env_id, total_timesteps=budget)
    t0 = time.perf_counter()
    out = ppo_jax.train_seeds(config, num_seeds=num_seeds, seed=seed)
    jax.block_until_ready(out)
    wall = time.perf_counter() - t0
    finals = np.asarray(out.final_return(), np.float64)
    mean, low, high = bootstrap_ci(finals)
    machine = machine_info()
    return {
        "env": env_id, "preset": env_id in ppo_jax.preset_envs(), "budget": config.steps_run,
        "num_seeds": num_seeds, "seed": seed,
        "final_return": finals.tolist(), "mean": float(mean), "ci_low": float(low),
        "ci_high": float(high), "min": float(finals.min()), "wall_s": round(wall, 2),
        "untrained_return": untrained_return(config, seed),
        "reference": REFERENCES.get(env_id),
        "device": device_info(), "cpu_model": machine["cpu_model"], "cpu_count": machine["cpu_count"],
        "versions": machine["versions"], "git": git_state(), "config": config.to_dict(),
        "curve": curve(out.metrics["episode_return"], config.batch_size),
        "date": time.strftime("%Y-%m-%d"),
    }


def load_rows(rows_dir: Path = ROWS_DIR) -> dict[str, dict]:
    rows = {}
    for path in sorted(rows_dir.glob("*.json")):
        row = json.loads(path.read_text())
        rows[row["env"]] = row
    return rows


def verdict(row: dict) -> str:
    """Against the reference: above, matched (within our CI) or below it."""
    ref = row.get("reference")
    if ref is None:
        return "no reference"
    if row["ci_low"] > ref:
        return "above"
    if row["ci_high"] >= ref or math.isclose(row["mean"], ref, rel_tol=1e-3, abs_tol=1e-3):
        return "matched"
    return "below"


def machine_label(row: dict) -> str:
    from ppo_jax.analysis.statistics import machine_label as label

    return label(row)


def aggregate(rows: dict[str, dict]) -> dict | None:
    """IQM of normalized scores over envs with a reference above the untrained return."""
    from ppo_jax.analysis.statistics import normalized_score, stratified_bootstrap_ci

    used = {env: row for env, row in rows.items() if env not in NOT_ANCHORS
            and row.get("reference") is not None and row["reference"] > row["untrained_return"]}
    if not used:
        return None
    scores = [normalized_score(row["final_return"], row["untrained_return"], row["reference"])
              for row in used.values()]
    iqm, low, high = stratified_bootstrap_ci(scores)
    return {"iqm": iqm, "ci_low": low, "ci_high": high, "envs": sorted(used),
            "excluded": sorted(set(rows) - set(used))}


def table_order(rows: dict[str, dict]) -> list[str]:
    """The envs of `rows` in the table's order: ENVS' groups, then any others by name."""
    return [e for e in ENVS if e in rows] + sorted(set(rows) - set(ENVS))


def runs_a_preset(row: dict, tuned: set[str]) -> bool:
    """Whether the row trained a preset (rows from before the "preset" key: is it one now)."""
    return row.get("preset", row["env"] in tuned)


def fmt(x: float) -> str:
    from ppo_jax.analysis.statistics import format_return

    return format_return(x)


def markdown(rows: dict[str, dict]) -> str:
    import ppo_jax

    tuned = set(ppo_jax.preset_envs())
    lines = [("| env | budget | final return: mean [95% CI] | min | seeds | wall | machine | "
              "gymnax PPO | vs reference |"), "|---|---:|---|---:|---:|---:|---|---:|---|"]
    for env in table_order(rows):
        r = rows[env]
        ref = "" if r.get("reference") is None else fmt(r["reference"])
        name = f"`{env}`" if runs_a_preset(r, tuned) else f"`{env}` (defaults)"
        lines.append(f"| {name} | {r['budget']:,} | {fmt(r['mean'])} [{fmt(r['ci_low'])}, "
                     f"{fmt(r['ci_high'])}] | {fmt(r['min'])} | {r['num_seeds']} | "
                     f"{r['wall_s']:,.0f} s | {machine_label(r)} | {ref} | {verdict(r)} |")
    agg = aggregate(rows)
    if agg is not None:
        lines += ["", (f"IQM of normalized scores over {len(agg['envs'])} envs: **{agg['iqm']:.3f}** "
                       f"(95% stratified-bootstrap CI {agg['ci_low']:.3f} to {agg['ci_high']:.3f}); "
                       "1 = gymnax's PPO reference, 0 = the untrained policy.")]
        if not all(runs_a_preset(r, tuned) for r in rows.values()):
            lines.append("(defaults): no preset yet; the row is `PPOConfig(env=...)`'s defaults.")
        unreferenced = [e for e in agg["excluded"] if rows[e].get("reference") is None]
        if unreferenced:
            lines.append("Not in the aggregate, for want of a gymnax PPO reference: "
                         f"{', '.join(unreferenced)}.")
        for env in agg["excluded"]:
            if env not in unreferenced:
                why = NOT_ANCHORS.get(env, "its reference is not above the untrained policy's return")
                lines.append(f"Not in the aggregate: {env} ({why}).")
    return "\n".join(lines) + "\n"


def plot(rows: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    envs = table_order(rows)
    cols = min(4, len(envs))
    nrows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
    for ax, env in zip(axes.flat, envs, strict=False):  # axes: a full grid, envs may leave cells
        r = rows[env]
        steps = np.asarray(r["curve"]["steps"])
        per_seed = np.array([[np.nan if v is None else v for v in s] for s in r["curve"]["per_seed"]])
        for s in per_seed:
            ax.plot(steps, s, color="C0", alpha=0.25, lw=0.8)
        ax.plot(steps, np.nanmean(per_seed, 0), color="C0", lw=2, label=f"ppo_jax ({r['num_seeds']} seeds)")
        if r.get("reference") is not None:
            ax.axhline(r["reference"], color="k", ls="--", lw=1, label="gymnax PPO")
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("env steps")
    for ax in list(axes.flat)[len(envs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_outputs(rows: dict[str, dict], results: Path = RESULTS, rows_dir: Path | None = None) -> str:
    """The table, the figure and the manifest of `results`, from `rows` (read from `rows_dir`)."""
    table = markdown(rows)
    (results / "returns_table.md").write_text(table)
    plot(rows, results / "returns_curves.png")
    write_row_manifest(rows, results, rows_dir or results / "rows")
    return table


ROW_FILE = ("every seed's final return, CI, minimum, wall time, untrained return, reference, machine, "
            "versions, git commit, config and learning curve")


def write_row_manifest(rows: dict[str, dict], results: Path, rows_dir: Path) -> Path:
    """`results`/manifest.json: each row's commit, date, machine and versions, from the row itself."""
    try:
        folder = rows_dir.resolve().relative_to(results.resolve()).as_posix()
    except ValueError:
        folder = str(rows_dir)
    machines: dict[str, dict] = {}
    for env in table_order(rows):
        machines.setdefault(machine_label(rows[env]), rows[env].get("versions") or "not recorded")
    dates = sorted(r["date"] for r in rows.values() if r.get("date"))
    return write_manifest(
        results,
        experiment="Every gymnax env's preset against gymnax's published PPO returns: final return per "
                   "seed, 95% bootstrap CI, minimum, and the IQM of normalized scores (rliable) over the "
                   "envs with a reference.",
        command={f"{folder}/<env>.json": "python scripts/returns_table.py --envs ENV  (default: every env, "
                                         f"{DEFAULT_SEEDS} seeds, {MINATAR_SEEDS} for MinAtar, "
                                         "seed set 1000)",
                 "returns_table.md, returns_curves.png": "python scripts/returns_table.py --table-only"},
        commit={f"{env}.json": short_commit(rows[env].get("git")) or "not recorded"
                for env in table_order(rows)},
        commit_source="each row's own git record (git.commit, ppo_jax_dirty)",
        date=f"{dates[0]} to {dates[-1]}" if len(set(dates)) > 1 else (dates[0] if dates else None),
        machine=", ".join(machines) or None,
        versions=machines,
        files={"returns_table.md": "the table and the aggregate (also put into docs/results/returns.md "
                                   "between its returns-table markers)",
               "returns_curves.png": "learning curves of every env, one thin line per seed",
               **{f"{folder}/{env}.json": ROW_FILE for env in table_order(rows)}})


TABLE_MARKERS = ("<!-- returns-table -->\n", "<!-- end: returns-table -->")
RESULTS_PAGE = REPO_ROOT / "docs" / "results" / "returns.md"


def update_results_page(table: str, page: Path = RESULTS_PAGE) -> bool:
    """Puts `table` between the docs page's returns-table markers; False if it has none."""
    text = page.read_text()
    start, end = TABLE_MARKERS
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    page.write_text(head + start + table + end + tail)
    return True


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=None, choices=ENVS, metavar="ENV",
                   help=f"envs to measure (default: all of {', '.join(ENVS)})")
    p.add_argument("--num-seeds", type=int, default=None,
                   help=f"seeds per env (default {DEFAULT_SEEDS}; {MINATAR_SEEDS} for MinAtar)")
    p.add_argument("--seed", type=int, default=1000,
                   help="seed set (default 1000: not the seeds the presets were searched on, 0)")
    p.add_argument("--budget", type=int, default=None,
                   help="env steps per agent instead of the preset's (a quick check, not a table row)")
    p.add_argument("--rows", type=Path, default=ROWS_DIR, help="folder of the per-env rows")
    p.add_argument("--table-only", action="store_true", help="only redraw the table and figure")
    return p.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.num_seeds is not None and args.num_seeds < 2:
        raise SystemExit("--num-seeds must be at least 2 (a CI needs seeds)")
    if not args.table_only:
        args.rows.mkdir(parents=True, exist_ok=True)
        for env in args.envs or ENVS:
            seeds = args.num_seeds or (MINATAR_SEEDS if env.endswith("MinAtar") else DEFAULT_SEEDS)
            row = measure(env, seeds, args.seed, args.budget)
            row_path(env, args.rows).write_text(json.dumps(row, indent=1) + "\n")
            print(f"{env}: {fmt(row['mean'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}], "
                  f"min {fmt(row['min'])}, {row['wall_s']:.0f} s", flush=True)
    table = write_outputs(load_rows(args.rows), args.rows.parent, args.rows)
    if args.rows.resolve() == ROWS_DIR.resolve():  # the committed rows: the docs site shows them
        update_results_page(table)
    print(table)
    return table


if __name__ == "__main__":
    main()
