"""The PPO paper's Table 1 (surrogate objectives compared) on gymnax's continuous envs,
or with --brax on the paper's own seven MuJoCo tasks in Brax.

    python scripts/ablation.py                                  # 1e6 steps x 3 seeds, as the paper
    python scripts/ablation.py --budget 100000 --seeds 2 --out runs/ablation-small
    python scripts/ablation.py --brax                           # the paper's 7 tasks, 1e6 x 3 (a GPU)
    python scripts/ablation.py --brax --envs brax/inverted_pendulum brax/inverted_double_pendulum \
        --budget 100000 --seeds 2                               # what a 2-core CPU fits

With --brax the outputs are named ablation_brax.* and the envs default to
halfcheetah, hopper, inverted_double_pendulum, inverted_pendulum, reacher,
swimmer and walker2d (`--brax-backend`, default "generalized"; episodes of
1000 steps as the paper's MuJoCo tasks).

Schulman et al. (2017, arXiv 1707.06347), section 6.1 and Table 1: eleven
settings of the surrogate objective, each trained on every env with a few
seeds. A run's score is its mean episode return over the last 100 episodes of
training. Per env the scores are shifted and scaled so that a random policy
(uniform random actions) scores 0 and the best setting (mean over seeds)
scores 1; a setting's number is its normalized score averaged over envs and
seeds.

The settings are `ppo_jax.sweep` configurations: per env, one sweep in which
each objective (a static `PPOConfig.objective`) is one compile and its
coefficients (`clip_eps`, `kl_target`, `kl_coef`: HParams) and the seeds are
vmapped. The base settings are the paper's MuJoCo ones (Table 3: horizon 2048,
Adam 3e-4, 10 epochs, minibatch 64, gamma 0.99, lambda 0.95, no entropy bonus,
64x64 tanh networks, no parameter sharing); see `base_config`.

Writes to --out: ablation.md (our table beside the paper's, and per env the
raw scores), ablation.json (every number) and ablation.png (bars and learning
curves). The paper's numbers are read from --reference (default
scripts/reference/ppo-paper-table1.csv, shipped with the repo).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import ppo_jax
from ppo_jax import sweep
from ppo_jax.analysis.benchmarking import device_info, write_manifest
from ppo_jax.envs.adapters import make_env

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO_ROOT / "scripts" / "reference" / "ppo-paper-table1.csv"
DEFAULT_ENVS = ("Pendulum-v1", "MountainCarContinuous-v0", "Reacher-misc", "Swimmer-misc")
# The paper's seven MuJoCo tasks (section 6.1), all in Brax.
PAPER_BRAX_ENVS = tuple(f"brax/{name}" for name in (
    "halfcheetah", "hopper", "inverted_double_pendulum", "inverted_pendulum", "reacher", "swimmer",
    "walker2d"))

# Table 1's rows, named exactly as in the reference CSV, and their settings.
SETTINGS: tuple[tuple[str, dict], ...] = (
    ("no clipping or penalty", {"objective": "none"}),
    ("clipping epsilon=0.1", {"objective": "clip", "clip_eps": 0.1}),
    ("clipping epsilon=0.2", {"objective": "clip", "clip_eps": 0.2}),
    ("clipping epsilon=0.3", {"objective": "clip", "clip_eps": 0.3}),
    ("adaptive KL d_targ=0.003", {"objective": "adaptive_kl", "kl_target": 0.003}),
    ("adaptive KL d_targ=0.01", {"objective": "adaptive_kl", "kl_target": 0.01}),
    ("adaptive KL d_targ=0.03", {"objective": "adaptive_kl", "kl_target": 0.03}),
    ("fixed KL beta=0.3", {"objective": "kl_penalty", "kl_coef": 0.3}),
    ("fixed KL beta=1", {"objective": "kl_penalty", "kl_coef": 1.0}),
    ("fixed KL beta=3", {"objective": "kl_penalty", "kl_coef": 3.0}),
    ("fixed KL beta=10", {"objective": "kl_penalty", "kl_coef": 10.0}),
)
COLORS = {"none": "black", "clip": "tab:blue", "adaptive_kl": "tab:green", "kl_penalty": "tab:red"}


def base_config(env_id: str, budget: int, num_envs: int,
                env_options: dict | None = None) -> ppo_jax.PPOConfig:
    """The paper's MuJoCo settings (Table 3) for one env and budget.

    Horizon 2048 is split over `num_envs` parallel envs (the batch stays 2048
    transitions); minibatch 64 = 32 minibatches; 10 epochs; Adam 3e-4 annealed
    linearly to 0 (as the paper's code); no entropy bonus. Observations are
    normalized by running statistics, as in the paper's code. Rewards are
    scaled by the running std of the discounted return (not in the paper;
    without it the value net of Pendulum, returns ~ -1000, does not catch up
    at small budgets). No gradient clipping (the paper has none): a huge
    max_grad_norm. No value clipping, so clip_eps changes the policy
    objective only. `env_options`: the suite's (Brax: backend, episode_length).
    """
    if 2048 % num_envs:
        raise ValueError(f"--num-envs must divide the paper's horizon 2048, got {num_envs}")
    return ppo_jax.PPOConfig(
        env=env_id, env_options=env_options or {}, total_timesteps=budget, num_envs=num_envs,
        num_steps=2048 // num_envs,
        num_minibatches=32, update_epochs=10, hidden_sizes=(64, 64), activation="tanh",
        anneal_lr=True, normalize_observations=True, normalize_rewards=True,
        clip_value_loss=False,
        hparams=ppo_jax.HParams(learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.0,
                                vf_coef=0.5, max_grad_norm=1e6),
    )


# ------------------------------------------------------------- scoring ---


def random_policy_return(env_id: str, num_episodes: int = 100, seed: int = 0,
                         env_options: dict | None = None) -> float:
    """Mean return of uniformly random actions (within the action box) over full episodes."""
    adapter = make_env(env_id, env_options=tuple(sorted((env_options or {}).items())))
    spec = adapter.spec
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    max_steps = int(adapter.max_episode_steps)  # the time limit: every episode has ended by then

    def episode(key):
        key, reset_key = jax.random.split(key)
        _, state = adapter.reset(reset_key)

        def step(carry, key):
            state, total, done = carry
            act_key, step_key = jax.random.split(key)
            action = jax.random.uniform(act_key, low.shape, minval=low, maxval=high)
            out = adapter.step(step_key, state, action)
            total = total + jnp.where(done, 0.0, out.reward)
            return (out.state, total, done | out.terminated | out.truncated), None

        keys = jax.random.split(key, max_steps)
        (_, total, _), _ = jax.lax.scan(step, (state, jnp.float32(0.0), jnp.bool_(False)), keys)
        return total

    keys = jax.random.split(jax.random.key(seed), num_episodes)
    return float(jnp.mean(jax.jit(jax.vmap(episode))(keys)))


def last_episodes_return(episode_return: np.ndarray, num_episodes: np.ndarray,
                         last: int = 100) -> np.ndarray:
    """Mean return over the last `last` episodes of each run.

    Args:
      episode_return, num_episodes: [..., num_updates] per-update metrics (the
        mean return of the episodes that ended in an update, and their count).
      last: episodes to average; the oldest update that reaches back past them
        is weighted by the episodes still needed (its episodes' mean stands in
        for theirs). A run with fewer episodes uses all it has.

    Returns:
      [...] mean returns (NaN for a run that completed no episode).
    """
    returns = np.nan_to_num(np.asarray(episode_return, np.float64))
    counts = np.asarray(num_episodes, np.float64)
    after = np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1] - counts  # episodes in later updates
    weight = np.clip(last - after, 0.0, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weight * returns).sum(-1) / weight.sum(-1)


def normalize_scores(scores: dict, random_returns: dict) -> dict:
    """Per env: (score - random) / (best setting's mean score - random).

    Args:
      scores: env -> float [num_settings, num_seeds] raw scores.
      random_returns: env -> random policy's mean return.

    Returns:
      env -> [num_settings, num_seeds] normalized scores (best setting's mean = 1).
    """
    out = {}
    for env, raw in scores.items():
        best = np.nanmax(np.nanmean(raw, axis=1))
        if not best > random_returns[env]:
            print(f"warning: {env}: no setting beats the random policy ({best:.2f} <= "
                  f"{random_returns[env]:.2f}); its normalized scores are meaningless", file=sys.stderr)
        out[env] = (raw - random_returns[env]) / (best - random_returns[env])
    return out


def read_reference(path: Path) -> dict[str, float]:
    with open(path, newline="") as f:
        return {row["setting"]: float(row["normalized_score"]) for row in csv.DictReader(f)}


# ------------------------------------------------------------ running ---


def run_env(env_id: str, args) -> dict:
    """The 11 settings x seeds on one env: one sweep (one compile) per objective group.

    The groups run one after another: a sweep with several static groups
    dispatches them all at once, and on a 2-core CPU that deadlocked here
    (building the next group's env while the first group ran).
    """
    config = base_config(env_id, args.budget, args.num_envs, env_options(env_id, args))
    start, num_compiles, metrics = time.time(), 0, {}
    for objective in dict.fromkeys(s["objective"] for _, s in SETTINGS):
        rows = [i for i, (_, s) in enumerate(SETTINGS) if s["objective"] == objective]
        res = sweep(config, [dict(SETTINGS[i][1]) for i in rows], num_seeds=args.seeds, seed=args.seed)
        num_compiles += res.num_compiles
        for name, value in res.metrics.items():
            metrics.setdefault(name, np.full((len(SETTINGS),) + value.shape[1:], np.nan, np.float32))
            metrics[name][rows] = value
        print(f"  {env_id} {objective}: {time.time() - start:.0f}s", flush=True)
    return {
        "config": config.to_dict(),
        "num_compiles": num_compiles,
        "seconds": time.time() - start,
        "scores": last_episodes_return(metrics["episode_return"], metrics["num_episodes"],
                                       args.last_episodes),
        "episodes_total": metrics["num_episodes"].sum(-1),
        "curves": metrics["episode_return"],  # [settings, seeds, updates]
        "episodes": metrics["num_episodes"],
        "kl_coef": metrics["kl_coef"],
    }


def env_options(env_id: str, args) -> dict:
    """The suite options of `env_id`: Brax's backend (episodes of 1000 steps, Brax's default)."""
    return {"backend": args.brax_backend} if env_id.startswith("brax/") else {}


def raw_path(env_id: str, args) -> Path:
    """--out/raw/ENV.npz, where `cached_run_env` saves an env's runs (Brax: the backend appended)."""
    suffix = "".join(f"_{v}" for v in env_options(env_id, args).values())  # the Brax backend
    return args.out / "raw" / f"{env_id.replace('/', '_')}{suffix}.npz"


def cached_run_env(env_id: str, args) -> dict:
    """run_env, saved to --out/raw/ENV.npz; with --resume, a matching saved run is reused."""
    path = raw_path(env_id, args)
    key = np.array([args.budget, args.seeds, args.seed, args.num_envs, args.last_episodes])
    if args.resume and path.exists():
        saved = np.load(path, allow_pickle=False)
        if np.array_equal(saved["key"], key):
            print(f"  {env_id}: reusing {path}", flush=True)
            out = {k: saved[k] for k in ("scores", "episodes_total", "curves", "episodes", "kl_coef")}
            out.update(config=json.loads(str(saved["config"])), num_compiles=0,
                       seconds=float(saved["seconds"]))
            return out
    out = run_env(env_id, args)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, key=key, config=json.dumps(out["config"]), seconds=out["seconds"],
             **{k: out[k] for k in ("scores", "episodes_total", "curves", "episodes", "kl_coef")})
    return out


def summarize(results: dict, random_returns: dict, reference: dict, envs=None) -> dict:
    """Normalized scores per setting (mean over `envs` and seeds) and their spread over seeds."""
    envs = list(results) if envs is None else list(envs)
    normalized = normalize_scores({e: results[e]["scores"] for e in results}, random_returns)
    stacked = np.stack([normalized[e] for e in envs])  # [envs, settings, seeds]
    per_seed = np.nanmean(stacked, axis=0)  # [settings, seeds]: averaged over envs
    num_seeds = per_seed.shape[1]
    rows = []
    for i, (name, settings) in enumerate(SETTINGS):
        mean = float(np.nanmean(stacked[:, i]))
        sem = float(np.nanstd(per_seed[i], ddof=1) / math.sqrt(num_seeds)) if num_seeds > 1 else float("nan")
        rows.append({
            "setting": name,
            "objective": settings["objective"],
            "score": mean,
            "sem": sem,
            "paper": reference.get(name, float("nan")),
            "per_env": {e: float(np.nanmean(normalized[e][i])) for e in results},
            "raw": {e: float(np.nanmean(results[e]["scores"][i])) for e in results},
        })
    ours = np.array([r["score"] for r in rows])
    paper = np.array([r["paper"] for r in rows])
    for rank_key, values in (("rank", ours), ("paper_rank", paper)):
        order = np.argsort(-values, kind="stable")
        for rank, idx in enumerate(order, 1):
            rows[idx][rank_key] = rank
    ok = np.isfinite(ours) & np.isfinite(paper)
    spearman = float(np.corrcoef(np.argsort(np.argsort(-ours[ok])),
                                 np.argsort(np.argsort(-paper[ok])))[0, 1]) if ok.sum() > 2 else float("nan")
    return {"rows": rows, "normalized": normalized, "spearman": spearman, "envs": envs}


# ------------------------------------------------------------ writing ---


def markdown(summary: dict, results: dict, random_returns: dict, args, seconds: float,
             all_envs: dict | None = None) -> str:
    """The table; `all_envs` (a summary over every env) adds a column when `summary` averages fewer."""
    envs = list(results)
    left_out = [e for e in envs if e not in summary["envs"]]
    lines = [
        (f"Budget: {args.budget:,} env steps per run, {args.seeds} seeds, envs {', '.join(envs)}; "
         f"score = mean return over the last {args.last_episodes} episodes of training; "
         f"normalized per env (uniform random actions = 0, best setting = 1), averaged over "
         f"{'envs' if not left_out else ', '.join(summary['envs'])} and seeds. "
         f"Paper: 7 MuJoCo envs, 1M steps, 3 seeds. Training wall-clock {seconds / 60:.1f} min."),
        "",
    ]
    extra = all_envs is not None and bool(left_out)
    head = "| setting | ours | ± s.e. (seeds) | rank |" + (" ours, all envs |" if extra else "")
    lines += [head + " paper | paper rank |",
              "| --- | ---: | ---: | ---: |" + (" ---: |" if extra else "") + " ---: | ---: |"]
    for i, r in enumerate(summary["rows"]):
        cell = f" {all_envs['rows'][i]['score']:.2f} |" if extra else ""
        lines.append(f"| {r['setting']} | {r['score']:.2f} | {r['sem']:.2f} | {r['rank']} |{cell} "
                     f"{r['paper']:.2f} | {r['paper_rank']} |")
    lines += ["", f"Spearman rank correlation with the paper: {summary['spearman']:.2f}"
              + (f" (all envs: {all_envs['spearman']:.2f})" if extra else "") + ".", "",
              "Per env, normalized (raw mean score over seeds in brackets):", "",
              "| setting | " + " | ".join(envs) + " |",
              "| --- | " + " | ".join("---:" for _ in envs) + " |"]
    for r in summary["rows"]:
        cells = [f"{r['per_env'][e]:.2f} ({r['raw'][e]:.1f})" for e in envs]
        lines.append(f"| {r['setting']} | " + " | ".join(cells) + " |")
    lines.append("| random policy (= 0) | " + " | ".join(f"({random_returns[e]:.1f})" for e in envs) + " |")
    return "\n".join(lines) + "\n"


def smooth(returns: np.ndarray, counts: np.ndarray, window: int = 5) -> np.ndarray:
    """[seeds, updates] -> [updates]: episode-weighted mean over seeds and the last `window` updates."""
    r = np.nan_to_num(returns) * counts
    kernel = np.ones(window)
    total = np.array([np.convolve(x, kernel)[: len(x)] for x in r]).sum(0)
    n = np.array([np.convolve(x, kernel)[: len(x)] for x in counts]).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def figure(summary: dict, results: dict, random_returns: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(results)
    suite = "Brax" if all(e.startswith("brax/") for e in envs) else "gymnax"
    fig = plt.figure(figsize=(4.2 * (len(envs) + 2) / 1.5, 7.5))
    grid = fig.add_gridspec(2, len(envs))
    ax = fig.add_subplot(grid[0, :])
    rows = summary["rows"]
    x = np.arange(len(rows))
    colors = [COLORS[r["objective"]] for r in rows]
    ax.bar(x - 0.2, [r["score"] for r in rows], 0.4, yerr=[r["sem"] for r in rows], color=colors,
           label=f"ours ({suite})", capsize=2)
    ax.bar(x + 0.2, [r["paper"] for r in rows], 0.4, color=colors, alpha=0.35, hatch="//",
           label="paper (MuJoCo)")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(x, [r["setting"].replace(" or penalty", "").replace("clipping ", "clip ")
                      for r in rows], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("normalized score")
    ax.set_title(f"PPO paper Table 1 on {suite} (Spearman vs paper {summary['spearman']:.2f})")
    ax.legend()
    for j, env in enumerate(envs):
        axe = fig.add_subplot(grid[1, j])
        res = results[env]
        batch = res["config"]["num_envs"] * res["config"]["num_steps"]
        steps = np.arange(1, res["curves"].shape[-1] + 1) * batch
        best = np.nanmax(np.nanmean(res["scores"], axis=1))
        seen: dict[str, int] = {}
        for i, r in enumerate(rows):
            curve = (smooth(res["curves"][i], res["episodes"][i]) - random_returns[env]) / (
                best - random_returns[env])
            k = seen[r["objective"]] = seen.get(r["objective"], -1) + 1
            axe.plot(steps, curve, color=COLORS[r["objective"]], lw=1.2,
                     ls=("-", "--", ":", "-.")[k], label=r["setting"] if j == 0 else None)
        axe.set_title(env, fontsize=9)
        axe.set_xlabel("env steps")
        axe.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        if j == 0:
            axe.set_ylabel("normalized return (5-update mean)")
            handles, labels = axe.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def to_json(summary: dict, results: dict, random_returns: dict, args, seconds: float) -> dict:
    return {
        "budget": args.budget, "seeds": args.seeds, "seed": args.seed, "num_envs": args.num_envs,
        "last_episodes": args.last_episodes, "wall_clock_s": seconds,
        "random_policy_return": random_returns,
        "spearman_vs_paper": summary["spearman"],
        "table": summary["rows"],
        "envs": {
            env: {
                "config": res["config"], "num_compiles": res["num_compiles"], "seconds": res["seconds"],
                "raw_scores": res["scores"].tolist(),  # [settings, seeds]
                "normalized_scores": summary["normalized"][env].tolist(),
                "episodes_per_run": res["episodes_total"].tolist(),
                "mean_curve": np.nanmean(res["curves"], axis=1).tolist(),  # [settings, updates]
                "final_kl_coef": res["kl_coef"][:, :, -1].tolist(),
            }
            for env, res in results.items()
        },
        "settings": [name for name, _ in SETTINGS],
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, default=1_000_000, help="env steps per run (paper: 1e6)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per setting and env (paper: 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--brax", action="store_true",
                   help="the paper's MuJoCo tasks in Brax (default envs: " + ", ".join(PAPER_BRAX_ENVS)
                        + "); outputs ablation_brax.*")
    p.add_argument("--brax-backend", default="generalized",
                   help="Brax physics backend for brax/ envs (generalized, positional, spring, mjx)")
    p.add_argument("--envs", nargs="+", default=None,
                   help=f"env ids (default: {', '.join(DEFAULT_ENVS)}; with --brax, the paper's 7)")
    p.add_argument("--num-envs", type=int, default=8,
                   help="parallel envs per agent; the horizon 2048 is split over them")
    p.add_argument("--last-episodes", type=int, default=100, help="episodes a score averages")
    p.add_argument("--random-episodes", type=int, default=100)
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                   help="the paper's Table 1 as CSV (setting,normalized_score)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: scripts/results/ablation-gymnax; "
                        "with --brax, scripts/results/ablation-brax)")
    p.add_argument("--average-envs", nargs="+", default=None,
                   help="envs whose normalized scores the main column averages (default: all); "
                        "the others still get their per-env column")
    p.add_argument("--resume", action="store_true",
                   help="reuse envs already run with the same settings (--out/raw/ENV.npz)")
    args = p.parse_args(argv)
    if args.envs is None:
        args.envs = list(PAPER_BRAX_ENVS if args.brax else DEFAULT_ENVS)
    if args.out is None:
        args.out = REPO_ROOT / "scripts" / "results" / ("ablation-brax" if args.brax else "ablation-gymnax")
    for env in args.envs:  # bad ids and options fail here, before anything compiles
        ppo_jax.PPOConfig(env=env, env_options=env_options(env, args))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    name = "ablation_brax" if args.brax else "ablation"
    reference = read_reference(args.reference) if args.reference.exists() else {}
    if not reference:
        print(f"warning: no reference table at {args.reference}; the paper column is empty",
              file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    results, random_returns = {}, {}
    for env in args.envs:
        random_returns[env] = random_policy_return(env, args.random_episodes, args.seed,
                                                   env_options(env, args))
        results[env] = cached_run_env(env, args)
        scores = np.nanmean(results[env]["scores"], axis=1)
        print(f"{env}: {results[env]['seconds']:.0f}s, {results[env]['num_compiles']} compiles, "
              f"random {random_returns[env]:.1f}, scores "
              + ", ".join(f"{s:.1f}" for s in scores), flush=True)
    seconds = sum(res["seconds"] for res in results.values())  # training, saved runs included
    all_envs = summarize(results, random_returns, reference)
    average = [e for e in args.envs if e in (args.average_envs or args.envs)]
    summary = summarize(results, random_returns, reference, average) if average != list(results) else all_envs
    table = markdown(summary, results, random_returns, args, seconds, all_envs)
    (args.out / f"{name}.md").write_text(table)
    (args.out / f"{name}.json").write_text(
        json.dumps(to_json(summary, results, random_returns, args, seconds), indent=1))
    figure(summary, results, random_returns, args.out / f"{name}.png")
    write_manifest(
        args.out,
        experiment=f"The PPO paper's Table 1 (eleven surrogate-objective settings) on {', '.join(args.envs)} "
                   f"at {args.budget:,} steps x {args.seeds} seeds, scored and normalized as in the paper.",
        files={f"{name}.md": "our table beside the paper's, and the raw scores per env",
               f"{name}.json": "every number: settings, per-env and per-seed scores, random-policy returns, "
                               "Spearman vs the paper",
               f"{name}.png": "bars per setting and each env's learning curves",
               **{raw_path(env, args).relative_to(args.out).as_posix():
                  f"{env} runs (scores, curves, episode counts, KL coefficients; {len(SETTINGS)} settings x "
                  f"{args.seeds} seeds), reused by --resume" for env in args.envs}},
        device=device_info())
    print(table)
    return summary


if __name__ == "__main__":
    main()
