"""Benchmark ppo_jax: compile time, run time, throughput and memory against population size,
side by side with Stable-Baselines3 PPO measured in the same run.

    python scripts/benchmark.py                                  # CartPole-v1, 5e5 steps, 1/8/64 seeds + SB3
    python scripts/benchmark.py --env Breakout-MinAtar Pendulum-v1 --skip-sb3
    python scripts/benchmark.py --populations 1 8 64 512 4096    # on a GPU
    python scripts/benchmark.py --plot-only scripts/results/benchmark-cartpole-cpu/results.jsonl

What is measured, for each (library, env, population):
  compile_s    jax.jit(f).lower(*args).compile(), caches cleared first (SB3: model construction)
  run_s        the compiled call until block_until_ready, compile excluded (SB3: model.learn)
  steps_per_s  env steps of all agents together / run_s; steps_per_s_per_agent = that / population
  peak RSS     host resident-set peak during the run alone (Linux), and of the whole process
  device mem   peak bytes in use on the accelerator, when JAX reports it (GPUs)
Each figure is the median over --repeats. Every measurement runs in a fresh Python process,
so compile caches, thread pools and memory peaks of one do not leak into the next.

Population 1 is `jax.jit(train)`; population P > 1 is `jax.jit(jax.vmap(train))` over P seeds,
exactly what `ppo_jax.train_seeds` runs. The config is `ppo_jax.preset(env, total_timesteps=budget)`,
except CartPole-v1 and Breakout-MinAtar: `PPOConfig(env=env, total_timesteps=budget)`, the
defaults every benchmark figure of them was measured with.
SB3 gets the same settings (envs, steps, minibatches, epochs, annealed learning rate, gamma,
lambda, clip, value clip, entropy and value coefficients, grad norm, Adam eps, separate tanh
MLPs) on gymnasium's env of the same id, with torch on one thread (--sb3-threads; one thread
is SB3's fastest setting for these small networks). SB3 may run a smaller budget (--sb3-budget): its
throughput is nearly constant over training, so its time for the full budget is extrapolated
from its steps/s and the record says so (`extrapolated: true`).

Output: JSON lines (--out): one `machine` record (CPU, cores, library versions, git commit,
load average), one `result` record per measurement (device kind included), one `summary` per
env (ours / SB3 throughput, vmapped / single-seed throughput); and a PNG of throughput against
population beside it (same stem).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ppo_jax.analysis.benchmarking import (
    device_info,
    machine_info,
    short_commit,
    source_digest,
    write_manifest,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_BUDGETS = {"CartPole-v1": 499_712, "Breakout-MinAtar": 100_000, "Pendulum-v1": 200_000}
FALLBACK_BUDGET = 100_000
DEFAULT_SB3_BUDGET = 100_000
MIB = 2.0 ** 20


@dataclasses.dataclass(frozen=True)
class Spec:
    """One measurement: a library on an env at a population, repeated."""

    library: str  # "ppo_jax" or "sb3"
    env: str
    population: int
    repeats: int
    seed: int
    config: dict  # PPOConfig.to_dict(); total_timesteps is the budget per agent

    @property
    def budget(self) -> int:
        return self.config["total_timesteps"]


# ---------------------------------------------------------------- host memory


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def process_peak_rss_mib() -> float:
    """Peak RSS of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024.0


def reset_peak_rss() -> bool:
    """Resets the kernel's RSS high-water mark (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def window_peak_rss_mib() -> float | None:
    """VmHWM: the RSS peak since the last `reset_peak_rss` (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- ppo_jax


# Measured with the plain defaults, PPOConfig(env=...), as every benchmark figure of them
# in the README was (CPU and GPU, and SB3's settings), though their presets changed since.
DEFAULTS_ENVS = ("CartPole-v1", "Breakout-MinAtar")


def make_config(env_id: str, budget: int) -> dict:
    """The measured config as a dict (no JAX backend started): `PPOConfig(env=env_id)` for
    DEFAULTS_ENVS, else `ppo_jax.preset(env_id)`; `budget` steps per agent."""
    import ppo_jax

    if env_id in DEFAULTS_ENVS:
        return ppo_jax.PPOConfig(env=env_id, total_timesteps=budget).to_dict()
    return ppo_jax.preset(env_id, total_timesteps=budget).to_dict()


def device_peak_mib() -> float | None:
    import jax

    stats = jax.devices()[0].memory_stats()
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return stats["peak_bytes_in_use"] / MIB


def final_return(episode_return) -> float:
    """Mean over agents of each agent's final return (`ppo_jax.analysis.statistics.final_return`:
    the mean episode_return over the last 10% of updates); NaN if no agent has one."""
    import numpy as np

    from ppo_jax.analysis.statistics import final_return as agent_final_return

    per_agent = np.atleast_1d(agent_final_return(episode_return))
    return float(np.nanmean(per_agent)) if np.isfinite(per_agent).any() else float("nan")


def ppo_jax_function(config, population: int, seed: int):
    """(jitted function, its args): plain jit for one seed; for a population, the
    program `train_seeds` runs (`make_population(config).train` over its seeds' keys)."""
    import jax
    import jax.numpy as jnp

    import ppo_jax

    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    if population == 1:
        return jax.jit(ppo_jax.make_train(config)), (jax.random.key(seed), hparams)
    keys = jax.random.split(jax.random.key(seed), population)  # train_seeds' keys
    return ppo_jax.make_population(config).train, (jax.random.key_data(keys), hparams)


def time_ppo_jax_once(config, population: int, seed: int) -> dict:
    """One cold compile (caches cleared) and one timed run."""
    import jax

    jax.clear_caches()
    fn, args = ppo_jax_function(config, population, seed)
    c0, t0 = time.process_time(), time.perf_counter()
    lowered = fn.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    c2, t2 = time.process_time(), time.perf_counter()
    compile_peak = window_peak_rss_mib()
    reset_peak_rss()
    c3, t3 = time.process_time(), time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    run_s, run_cpu_s = time.perf_counter() - t3, time.process_time() - c3
    steps = int(out.metrics["timesteps"].reshape(-1)[-1])
    return {
        "lower_s": t1 - t0,
        "compile_s": t2 - t0,
        "compile_cpu_s": c2 - c0,
        "compile_peak_rss_mib": compile_peak,
        "run_s": run_s,
        "run_cpu_s": run_cpu_s,
        "steps_per_agent": steps,
        "run_peak_rss_mib": window_peak_rss_mib(),
        "final_return": final_return(out.metrics["episode_return"]),
    }


def measure_ppo_jax(spec: Spec) -> dict:
    from ppo_jax import PPOConfig

    config = PPOConfig.from_dict(spec.config)
    sources = source_digest()
    rss_before = current_rss_mib()
    reps = [time_ppo_jax_once(config, spec.population, spec.seed + r) for r in range(spec.repeats)]
    return {
        "config": spec.config,
        "ppo_jax_sources": sources,
        "device": device_info(),
        "rss_before_mib": rss_before,
        "device_peak_mib": device_peak_mib(),
        "repeats": reps,
    }


# ---------------------------------------------------------------- Stable-Baselines3


def sb3_available(env_id: str) -> str | None:
    """None when SB3 can run `env_id`, else the reason it cannot."""
    from importlib.util import find_spec

    missing = [m for m in ("stable_baselines3", "torch", "gymnasium") if find_spec(m) is None]
    if missing:
        return f"not installed ({', '.join(missing)}); pip install -e '.[bench]'"
    import gymnasium

    if env_id not in gymnasium.envs.registry:
        return f"gymnasium has no {env_id}"
    return None


def sb3_kwargs(config: dict, seed: int) -> dict:
    """SB3 PPO keyword arguments equal to a ppo_jax config dict (clip objective only).

    Torch-free: `policy_kwargs["activation_fn"]` is the activation's name, which
    `make_sb3_model` turns into the torch module class.
    """
    if config["objective"] != "clip" or config["dual_clip"] or config["early_stop"]:
        raise ValueError("the SB3 comparison supports the plain clip objective only")
    hp = config["hparams"]
    lr0 = hp["learning_rate"]
    hidden = list(config["hidden_sizes"])
    return {
        "learning_rate": ((lambda progress_remaining: lr0 * progress_remaining)
                          if config["anneal_lr"] else lr0),
        "n_steps": config["num_steps"],
        "batch_size": config["num_envs"] * config["num_steps"] // config["num_minibatches"],
        "n_epochs": config["update_epochs"],
        "gamma": hp["gamma"],
        "gae_lambda": hp["gae_lambda"],
        "clip_range": hp["clip_eps"],
        "clip_range_vf": hp["clip_eps"] if config["clip_value_loss"] else None,
        "ent_coef": hp["ent_coef"],
        # ppo_jax's value loss is 0.5 * squared error (CleanRL's); SB3's is the plain MSE.
        "vf_coef": 0.5 * hp["vf_coef"],
        "max_grad_norm": hp["max_grad_norm"],
        "policy_kwargs": {"net_arch": {"pi": hidden, "vf": hidden}, "activation_fn": config["activation"],
                          "ortho_init": True, "optimizer_kwargs": {"eps": 1e-5}},
        "device": "cpu",
        "seed": seed,
        "verbose": 0,
    }


def make_sb3_model(config: dict, seed: int):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize
    from torch import nn

    venv = make_vec_env(config["env"], n_envs=config["num_envs"], seed=seed)
    if config["normalize_observations"] or config["normalize_rewards"]:
        venv = VecNormalize(venv, norm_obs=config["normalize_observations"],
                            norm_reward=config["normalize_rewards"], gamma=config["hparams"]["gamma"])
    kwargs = sb3_kwargs(config, seed)
    activations = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU}
    kwargs["policy_kwargs"]["activation_fn"] = activations[kwargs["policy_kwargs"]["activation_fn"]]
    model = PPO("MlpPolicy", venv, **kwargs)
    check_sb3_model(model, config)
    return model


def check_sb3_model(model, config: dict) -> None:
    """Self-check run before every SB3 measurement: the model SB3 built has our settings.

    Catches an SB3 release that renames or ignores one of `sb3_kwargs`, which
    would silently compare against a different algorithm.
    """
    import torch

    hp = config["hparams"]
    hidden = list(config["hidden_sizes"])
    actual = {
        "n_envs": model.n_envs, "n_steps": model.n_steps, "n_epochs": model.n_epochs,
        "batch_size": model.batch_size, "gamma": model.gamma, "gae_lambda": model.gae_lambda,
        "ent_coef": model.ent_coef, "vf_coef": model.vf_coef, "max_grad_norm": model.max_grad_norm,
        "clip_range": model.clip_range(1.0), "lr_start": model.lr_schedule(1.0),
        "adam_eps": model.policy.optimizer.defaults["eps"],
        "pi_widths": [m.out_features for m in model.policy.mlp_extractor.policy_net
                      if isinstance(m, torch.nn.Linear)],
        "vf_widths": [m.out_features for m in model.policy.mlp_extractor.value_net
                      if isinstance(m, torch.nn.Linear)],
    }
    expected = {
        "n_envs": config["num_envs"], "n_steps": config["num_steps"], "n_epochs": config["update_epochs"],
        "batch_size": config["num_envs"] * config["num_steps"] // config["num_minibatches"],
        "gamma": hp["gamma"], "gae_lambda": hp["gae_lambda"], "ent_coef": hp["ent_coef"],
        "vf_coef": 0.5 * hp["vf_coef"], "max_grad_norm": hp["max_grad_norm"],
        "clip_range": hp["clip_eps"], "lr_start": hp["learning_rate"], "adam_eps": 1e-5,
        "pi_widths": hidden, "vf_widths": hidden,
    }
    wrong = {k: (actual[k], v) for k, v in expected.items()
             if (actual[k] != v if isinstance(v, list) else not math.isclose(actual[k], v, rel_tol=1e-6))}
    if wrong:
        raise RuntimeError(f"SB3 self-check: the model's settings differ from the config "
                           f"(name: (SB3's, ours)): {wrong}")


def time_sb3_once(config: dict, seed: int) -> dict:
    t0 = time.perf_counter()
    model = make_sb3_model(config, seed)
    t1 = time.perf_counter()
    setup_peak = window_peak_rss_mib()
    reset_peak_rss()
    c2, t2 = time.process_time(), time.perf_counter()
    model.learn(total_timesteps=config["total_timesteps"])
    run_s, run_cpu_s = time.perf_counter() - t2, time.process_time() - c2
    returns = [ep["r"] for ep in model.ep_info_buffer]
    return {
        "compile_s": t1 - t0,
        "compile_peak_rss_mib": setup_peak,
        "run_s": run_s,
        "run_cpu_s": run_cpu_s,
        "steps_per_agent": int(model.num_timesteps),
        "run_peak_rss_mib": window_peak_rss_mib(),
        # SB3 keeps no per-update returns, so its figure is its last 10 episodes' mean: a
        # check that it trained, not ppo_jax's final return (its runs are shorter anyway).
        "final_return": float(statistics.fmean(returns[-10:])) if returns else float("nan"),
    }


def measure_sb3(spec: Spec, threads: int) -> dict:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    rss_before = current_rss_mib()
    reps = [time_sb3_once(spec.config, spec.seed + r) for r in range(spec.repeats)]
    return {
        "config": spec.config,
        "device": {"platform": "cpu", "kind": "torch", "count": 1,
                   "torch_threads": torch.get_num_threads()},
        "rss_before_mib": rss_before,
        "device_peak_mib": None,
        "repeats": reps,
    }


# ---------------------------------------------------------------- one measurement


def summarize_repeats(spec: Spec, raw: dict) -> dict:
    """Medians over repeats, throughputs, and the raw per-repeat figures."""
    reps = raw.pop("repeats")
    med = lambda key: statistics.median(r[key] for r in reps)
    steps = reps[0]["steps_per_agent"]
    run_s = med("run_s")
    run_peaks = [r["run_peak_rss_mib"] for r in reps if r["run_peak_rss_mib"] is not None]
    # Resetting the high-water mark also resets ru_maxrss, so the process peak is the max of the windows.
    all_peaks = run_peaks + [r["compile_peak_rss_mib"] for r in reps if r.get("compile_peak_rss_mib")]
    return {
        "record": "result",
        **{k: v for k, v in dataclasses.asdict(spec).items() if k != "config"},
        "budget": spec.budget,
        "steps_per_agent": steps,
        "compile_s": med("compile_s"),
        "run_s": run_s,
        "run_cpu_s": med("run_cpu_s"),
        "steps_per_s": spec.population * steps / run_s,
        "steps_per_s_per_agent": steps / run_s,
        "steps_per_cpu_s": spec.population * steps / med("run_cpu_s"),
        "final_return": med("final_return"),
        "peak_rss_mib": max(all_peaks + [process_peak_rss_mib()]),
        "run_peak_rss_mib": max(run_peaks) if run_peaks else None,
        **raw,
        "run_s_all": [r["run_s"] for r in reps],
        "run_cpu_s_all": [r["run_cpu_s"] for r in reps],
        "compile_s_all": [r["compile_s"] for r in reps],
        "compile_cpu_s_all": [r.get("compile_cpu_s") for r in reps],
        "lower_s_all": [r.get("lower_s") for r in reps],
        "final_return_all": [r["final_return"] for r in reps],
    }


def measure(spec: Spec, sb3_threads: int = 1) -> dict:
    load_start = os.getloadavg()
    raw = measure_ppo_jax(spec) if spec.library == "ppo_jax" else measure_sb3(spec, sb3_threads)
    return {**summarize_repeats(spec, raw), "loadavg": [load_start[0], os.getloadavg()[0]]}


def run_worker(spec: Spec, in_process: bool, sb3_threads: int = 1, timeout: float | None = None) -> dict:
    """Measures `spec` in a fresh Python process (or in this one); errors and timeouts become records."""
    if in_process:
        return measure(spec, sb3_threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(dataclasses.asdict(spec)),
           "--sb3-threads", str(sb3_threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        stderr = err.stderr.decode(errors="replace") if isinstance(err.stderr, bytes) else err.stderr or ""
        return {"record": "error", **dataclasses.asdict(spec), "budget": spec.budget, "returncode": None,
                "timed_out_after_s": timeout, "stderr_tail": stderr[-3000:]}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1])
    return {"record": "error", **dataclasses.asdict(spec), "budget": spec.budget,
            "returncode": proc.returncode,
            "stderr_tail": proc.stderr[-3000:]}


# ---------------------------------------------------------------- summary, table, plot


def steps_per_cpu_s(result: dict) -> float:
    """Env steps per second of process CPU time: less sensitive than wall time to a busy machine."""
    return result["population"] * result["steps_per_agent"] / result["run_cpu_s"]


def env_summary(env_id: str, results: list[dict], sb3_skipped: str | None) -> dict:
    """Ours / SB3 throughput per population, and vmapped / single-seed throughput."""
    ours = {r["population"]: r for r in results if r["library"] == "ppo_jax" and r["env"] == env_id}
    sb3 = next((r for r in results if r["library"] == "sb3" and r["env"] == env_id), None)
    base = ours.get(1)
    summary = {"record": "summary", "env": env_id, "sb3_skipped": sb3_skipped,
               "steps_per_s": {str(p): r["steps_per_s"] for p, r in sorted(ours.items())}}
    if base is not None:
        summary["vmap_speedup_over_1_seed"] = {
            str(p): r["steps_per_s"] / base["steps_per_s"] for p, r in sorted(ours.items())}
    if sb3 is not None:
        summary["sb3_steps_per_s"] = sb3["steps_per_s"]
        summary["sb3_steps_measured"] = sb3["steps_per_agent"]
        summary["sb3_extrapolated"] = sb3["extrapolated"]
        summary["sb3_run_s_full_budget"] = sb3["run_s_full_budget"]
        summary["ours_over_sb3"] = {
            str(p): r["steps_per_s"] / sb3["steps_per_s"] for p, r in sorted(ours.items())}
        summary["ours_over_sb3_per_cpu_s"] = {
            str(p): steps_per_cpu_s(r) / steps_per_cpu_s(sb3) for p, r in sorted(ours.items())}
    return summary


def markdown_table(results: list[dict], summaries: list[dict]) -> str:
    """One row per measurement: medians, throughput, ratios, memory."""
    sb3 = {r["env"]: r for r in results if r["record"] == "result" and r["library"] == "sb3"}
    base_rate = {s["env"]: s["steps_per_s"].get("1") for s in summaries}
    rows = [("| env | library | agents | compile s | run s | run CPU s | env steps/s (all) | per agent "
             "| vs 1 seed | vs SB3 | vs SB3 per CPU s | peak RSS MiB (training) | final return |"),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r["record"] != "result":
            why = (f"timed out ({r['timed_out_after_s']:g} s)" if r.get("timed_out_after_s")
                   else f"failed (rc {r.get('returncode')})")
            rows.append(f"| {r['env']} | {r['library']} | {r['population']} | {why} | | | | | | | | | |")
            continue
        ours = r["library"] == "ppo_jax"
        base, theirs = base_rate.get(r["env"]), sb3.get(r["env"])
        scale = r["full_budget"] / r["steps_per_agent"] if r.get("extrapolated") else 1.0
        star = "*" if r.get("extrapolated") else ""
        vs_base = f"{r['steps_per_s'] / base:.2f}x" if ours and base else ""
        vs_sb3 = f"{r['steps_per_s'] / theirs['steps_per_s']:.1f}x" if theirs else ""
        vs_sb3_cpu = f"{steps_per_cpu_s(r) / steps_per_cpu_s(theirs):.1f}x" if theirs else ""
        rows.append(
            f"| {r['env']} | {'ppo_jax' if ours else 'SB3 (torch CPU)'} | {r['population']} "
            f"| {r['compile_s']:.2f} | {r['run_s'] * scale:.1f}{star} | {r['run_cpu_s'] * scale:.1f}{star} "
            f"| {r['steps_per_s']:,.0f} | {r['steps_per_s_per_agent']:,.0f} "
            f"| {vs_base} | {vs_sb3} | {vs_sb3_cpu} "
            f"| {r.get('run_peak_rss_mib') or r['peak_rss_mib']:,.0f} | {r['final_return']:.1f} |")
    return "\n".join(rows)


def plot_results(results: list[dict], machine: dict, path: Path) -> None:
    """Total and per-agent env steps/s against population, SB3 as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r["record"] == "result"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    all_pops = sorted({r["population"] for r in ok if r["library"] == "ppo_jax"})
    for env_id in dict.fromkeys(r["env"] for r in ok):
        ours = sorted((r for r in ok if r["env"] == env_id and r["library"] == "ppo_jax"),
                      key=lambda r: r["population"])
        sb3 = next((r for r in ok if r["env"] == env_id and r["library"] == "sb3"), None)
        for ax, key in zip(axes, ("steps_per_s", "steps_per_s_per_agent"), strict=True):
            line, = ax.plot([r["population"] for r in ours], [r[key] for r in ours], "o-",
                            label=f"ppo_jax {env_id}")
            for r in ours:
                ratio = r[key] / sb3[key] if sb3 else None
                note = f"{r[key]:,.0f}" + (f"\n{ratio:.{0 if ratio >= 10 else 1}f}x SB3" if sb3 else "")
                ax.annotate(note, (r["population"], r[key]), textcoords="offset points",
                            xytext=(0, 6), ha="center", fontsize=7)
            if sb3 is not None:
                ax.axhline(sb3[key], ls="--", color=line.get_color(),
                           label=f"SB3 {env_id}: {sb3[key]:,.0f} (1 agent, torch CPU)")
    device = next((r["device"]["kind"] for r in ok if r["library"] == "ppo_jax"), "?")
    for ax, title in zip(axes, ("all agents together", "per agent"), strict=True):
        ax.set(xscale="log", yscale="log", xlabel="population (seeds trained at once, vmapped)",
               ylabel="env steps / s", title=f"Throughput, {title}")
        if all_pops:
            ax.set_xticks(all_pops, [str(p) for p in all_pops])
            ax.minorticks_off()
            ax.margins(x=0.15, y=0.25)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    load = machine.get("loadavg_start") or [float("nan")]
    fig.suptitle(f"{machine.get('cpu_model')} ({machine.get('cpu_count')} cores), JAX device: {device}; "
                 f"load average at start {load[0]:.1f}; medians of repeats", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- CLI


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["CartPole-v1"], help="gymnax env ids")
    p.add_argument("--budget", type=int, default=None,
                   help=f"env steps per agent (default per env: {DEFAULT_BUDGETS}, else {FALLBACK_BUDGET})")
    p.add_argument("--populations", type=int, nargs="+", default=[1, 8, 64],
                   help="numbers of seeds trained at once (vmapped); up to 4096 on a GPU")
    p.add_argument("--repeats", type=int, default=3, help="repeats per measurement; medians reported")
    p.add_argument("--skip-sb3", action="store_true", help="do not run Stable-Baselines3")
    p.add_argument("--sb3-budget", type=int, default=DEFAULT_SB3_BUDGET,
                   help="env steps SB3 actually runs (its full-budget time is extrapolated)")
    p.add_argument("--sb3-repeats", type=int, default=None, help="SB3 repeats (default: --repeats)")
    p.add_argument("--sb3-threads", type=int, default=1,
                   help="torch.set_num_threads for SB3; 0 keeps torch's default (all cores). Default 1: "
                        "faster for 64-wide MLPs, and far faster on a busy machine, so SB3 gets its best")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help="JSON lines path (default scripts/results/benchmark-<env>/results.jsonl); "
                        "PNG beside it")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one measurement (all its repeats) may take before it is killed and "
                        "recorded as an error")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process (fast smoke tests; peaks then accumulate)")
    p.add_argument("--plot-only", type=Path, default=None, help="re-plot an existing JSON lines file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def slug(env_id: str) -> str:
    return env_id.lower()


def env_budget(args, env_id: str) -> int:
    return args.budget or DEFAULT_BUDGETS.get(env_id, FALLBACK_BUDGET)


def sb3_skip_reason(args, env_id: str) -> str | None:
    return "--skip-sb3" if args.skip_sb3 else sb3_available(env_id)


def plan(args) -> list[Spec]:
    """The measurements to run, in order: ppo_jax populations, then SB3, per env."""
    specs = []
    for env_id in args.env:
        budget = env_budget(args, env_id)
        config = make_config(env_id, budget)
        specs += [Spec("ppo_jax", env_id, p, args.repeats, args.seed, config) for p in args.populations]
        skip = sb3_skip_reason(args, env_id)
        if skip is not None:
            print(f"[benchmark] SB3 on {env_id} skipped: {skip}", flush=True)
            continue
        sb3_config = make_config(env_id, min(budget, args.sb3_budget))
        specs.append(Spec("sb3", env_id, 1, args.sb3_repeats or args.repeats, args.seed, sb3_config))
    return specs


def with_full_budget(result: dict, full_budget: int) -> dict:
    """SB3 results: the time for the full budget, extrapolated when it ran fewer steps."""
    if result["record"] == "result":
        result["full_budget"] = full_budget
        result["extrapolated"] = result["steps_per_agent"] < full_budget
        result["run_s_full_budget"] = full_budget / result["steps_per_s_per_agent"]
    return result


def write_line(f, record: dict) -> None:
    f.write(json.dumps(record) + "\n")
    f.flush()


def run_benchmark(args) -> list[dict]:
    default_folder = REPO_ROOT / "scripts" / "results" / f"benchmark-{'-'.join(map(slug, args.env))}"
    out = args.out or default_folder / "results.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"record": "machine", **machine_info(), "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "worker"}}
    results, summaries = [], []
    with open(out, "w") as f:
        write_line(f, machine)
        for spec in plan(args):
            print(f"[benchmark] {spec.library} {spec.env} population={spec.population} "
                  f"budget={spec.budget} repeats={spec.repeats} ...", flush=True)
            result = run_worker(spec, args.in_process, args.sb3_threads, args.timeout)
            if spec.library == "sb3":
                result = with_full_budget(result, env_budget(args, spec.env))
            results.append(result)
            write_line(f, result)
            print(json.dumps({k: result.get(k) for k in ("record", "compile_s", "run_s", "steps_per_s",
                                                          "peak_rss_mib", "final_return")}), flush=True)
        for env_id in args.env:
            ok = [r for r in results if r["record"] == "result"]
            summaries.append(env_summary(env_id, ok, sb3_skip_reason(args, env_id)))
            write_line(f, summaries[-1])
        write_line(f, {"record": "end", "loadavg_end": list(os.getloadavg())})
    plot_results(results, machine, out.with_suffix(".png"))
    device = next((r["device"] for r in results if r.get("library") == "ppo_jax" and "device" in r), None)
    manifest = write_manifest(
        out.parent,
        experiment=f"ppo_jax training throughput, compile time and memory against population size "
                   f"({', '.join(map(str, args.populations))} seeds) on {', '.join(args.env)}"
                   + ("" if args.skip_sb3 else ", side by side with Stable-Baselines3") + ".",
        files={out.name: "machine record, one result per (library, env, population), a summary per env",
               out.with_suffix(".png").name: f"throughput against population size, from {out.name}"},
        commit=short_commit(machine["git"]), commit_source=f"{out.name}'s machine record (git)",
        machine=machine, device=device, versions=machine["versions"])
    print(markdown_table(results, summaries))
    print(f"[benchmark] wrote {out}, {out.with_suffix('.png')} and {manifest}")
    return results + summaries


def replot(path: Path) -> None:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    machine = next(r for r in records if r["record"] == "machine")
    results = [r for r in records if r["record"] in ("result", "error")]
    summaries = [r for r in records if r["record"] == "summary"]
    plot_results(results, machine, path.with_suffix(".png"))
    print(markdown_table(results, summaries))


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(measure(Spec(**json.loads(args.worker)), args.sb3_threads)), flush=True)
        return None
    if args.plot_only is not None:
        return replot(args.plot_only)
    return run_benchmark(args)


if __name__ == "__main__":
    main()
