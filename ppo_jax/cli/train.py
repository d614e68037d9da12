"""Train a population of PPO agents from the command line.

    ppo-jax train --env CartPole-v1 --num-seeds 16 --out runs/cartpole
    ppo-jax train --env Pendulum-v1 --learning-rate 3e-4 --checkpoint-every 100
    ppo-jax train --resume runs/cartpole            # continue from the checkpoint
    ppo-jax train --resume runs/cartpole --total-timesteps 1000000   # extend the run
    ppo-jax train --env Acrobot-v1 --help           # every flag, with Acrobot's defaults
    ppo-jax train --eval-every 10 --track tensorboard jsonl --run-name cp  # live curves

Every `PPOConfig` and `HParams` field is a flag. Defaults are the env's
preset (`ppo_jax.preset(env)`), or the plain `PPOConfig` defaults with
`--no-preset`; `--help` shows them for the env given with `--env`.

Writes to the output folder:
  config.json          the PPOConfig (PPOConfig.from_dict reads it back)
  run.json             num_seeds, seed, updates done, wall time, command line
  metrics.csv          tidy: one row per (seed, update), one column per metric
  metrics.npz          raw arrays, one per metric: float32 [num_seeds, updates]
  checkpoint/          the population's TrainState and config (ppo_jax.load reads it)
  learning_curve.png   return vs env steps (mean over seeds, 95% band) + diagnostics
  tensorboard/, wandb/, metrics.jsonl   with --track: live curves, one per seed

An output folder that exists and is not empty is refused (exit code 2, nothing
touched) unless --resume continues the run in it or --overwrite replaces it.
--overwrite removes the previous run's files above (and temporary files an
interrupted save left) before training, so nothing stale stays beside the new
run; it refuses a folder holding anything else, which it never deletes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import os
import time
import warnings

import numpy as np

from ppo_jax.cli.common import (
    BoolFlag,
    UsageError,
    add_field_flag,
    attribute_docs,
    flag_help,
    prepare_output_folder,
)
from ppo_jax.config.config import ACTIVATIONS, NETWORKS, OBJECTIVES, STATIC_FIELDS, PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams
from ppo_jax.util.files import atomic_write

NAME = "train"
HELP = "train a population of PPO agents (one compile, vmapped over seeds)"
USAGE = "ppo-jax train [--env ENV] [--num-seeds N] [--out DIR] [--resume DIR] [FLAG ...]"
CHECKPOINT_DIR = "checkpoint"
# Everything a run writes into its output folder (--overwrite removes exactly these, and
# their temporary siblings left by an interrupted save).
RUN_FILES = ("config.json", "run.json", "metrics.csv", "metrics.npz", "learning_curve.png",
             CHECKPOINT_DIR, "metrics.jsonl", "tensorboard", "wandb")


# --- flags ---------------------------------------------------------------------------
def _pre_parse(argv: list[str]) -> argparse.Namespace:
    """--env, --resume and --preset decide the other flags' defaults: read them first."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env", default="CartPole-v1")
    pre.add_argument("--resume", default=None)
    pre.add_argument("--preset", dest="preset", action="store_true", default=True)
    pre.add_argument("--no-preset", dest="preset", action="store_false")
    return pre.parse_known_args(argv)[0]


@functools.lru_cache(maxsize=1)
def env_ids() -> tuple[str, ...]:
    """Every --env id: `available_envs(suites=True)`, without the lines some suites print on
    stdout when imported (e.g. Brax's "Failed to import warp"), which would open --help."""
    from ppo_jax.config.config import available_envs

    with contextlib.redirect_stdout(io.StringIO()):
        return tuple(available_envs(suites=True))


def _defaults_for(pre: argparse.Namespace) -> tuple[PPOConfig, str, dict]:
    """(config whose values are the flags' defaults, help note, num_seeds/seed defaults)."""
    from ppo_jax.checkpoint import CheckpointError
    from ppo_jax.config.presets import preset

    if pre.resume is not None:
        try:
            run = read_run(pre.resume)
        except (CheckpointError, OSError, ValueError) as err:
            raise UsageError(f"--resume {pre.resume}: {err}") from err
        seeds = {"num_seeds": run["run"]["num_seeds"], "seed": run["run"]["seed"]}
        return run["config"], " [resumed run's value]", seeds
    if pre.env not in env_ids():
        return PPOConfig(), "", {}  # the --env flag's choices report the bad id
    if pre.preset:
        return preset(pre.env), "", {}
    return PPOConfig(env=pre.env), "", {}


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Run options, then one flag per PPOConfig field, then one per HParams field.

    Their defaults come from --env's preset (or --resume's saved run), read from `argv` first.
    """
    pre = _pre_parse(argv)
    defaults, note, seeds = _defaults_for(pre)
    parser.usage = USAGE
    parser.description = (__doc__ or "").split("\n\n")[0].strip() + " Defaults shown: the " + (
        "resumed run's config." if pre.resume else f"preset for --env {defaults.env}.")
    parser.epilog = "\n\n".join((__doc__ or "").split("\n\n")[1:]).strip()

    run = parser.add_argument_group("run options")
    run.add_argument("--num-seeds", type=int, default=seeds.get("num_seeds", 16), metavar="INT",
                     help=flag_help("agents trained in parallel (vmapped, one compile)",
                                    seeds.get("num_seeds", 16)))
    run.add_argument("--seed", type=int, default=seeds.get("seed", 0), metavar="INT",
                     help=flag_help("seed i gets jax.random.split(jax.random.key(seed), num_seeds)[i]",
                                    seeds.get("seed", 0)))
    run.add_argument("--out", default=None, metavar="DIR",
                     help=flag_help("output folder", default_text="(default: runs/<env>)"))
    run.add_argument("--resume", default=None, metavar="DIR", help=flag_help(
        "continue the run in DIR from its checkpoint (its config is kept; config flags must match "
        "it, except a larger --total-timesteps, which extends the run)", None))
    run.add_argument("--overwrite", action=BoolFlag, default=False, help=flag_help(
        "replace the run already in --out: its files are removed first (a folder holding other "
        "files is refused)", False))
    run.add_argument("--checkpoint-every", type=int, default=0, metavar="N", help=flag_help(
        "save a checkpoint (and metrics) every N updates; 0: only at the end", 0))
    run.add_argument("--max-updates", type=int, default=None, metavar="N", help=flag_help(
        "stop after N updates in this invocation (a checkpoint is saved; continue with --resume)",
        default_text="(default: run to total_timesteps)"))
    run.add_argument("--progress", action=BoolFlag, default=True, help=flag_help(
        "live progress bar (updates, env steps/s, mean return)", True))
    run.add_argument("--track", nargs="*", default=(), metavar="{" + ",".join(
        ("tensorboard", "wandb", "jsonl")) + "}", help=flag_help(
        "log live metrics, one curve per seed, to trackers: tensorboard (DIR/tensorboard/), wandb "
        "(DIR/wandb/; WANDB_MODE=offline for no network), jsonl (DIR/metrics.jsonl); several "
        "allowed", ()))
    run.add_argument("--run-name", default=None, metavar="NAME", help=flag_help(
        "the run's name in the trackers", default_text="(default: the output folder's name)"))
    run.add_argument("--preset", action=BoolFlag, default=True, help=flag_help(
        "start from ppo_jax.preset(env); --no-preset: plain PPOConfig defaults", True))
    run.add_argument("--plot", action=BoolFlag, default=True,
                     help=flag_help("write learning_curve.png", True))

    choices = {"env": env_ids(), "activation": tuple(ACTIVATIONS),
               "network": tuple(NETWORKS), "objective": tuple(OBJECTIVES)}
    metavars = {"env": "ENV"}  # 80 ids: listed by the error message, not in the usage line
    config_docs = attribute_docs(PPOConfig)
    group = parser.add_argument_group("PPOConfig fields")
    for f in dataclasses.fields(PPOConfig):
        if f.name == "hparams":
            continue
        value = getattr(defaults, f.name)
        if f.name == "env_options":  # stored as (key, value) pairs; KEY VALUE pairs on the command line
            value = dict(value)
        add_field_flag(group, f.name, value, config_docs.get(f.name, "") + note,
                       choices=choices.get(f.name), metavar=metavars.get(f.name))
    hp_docs = attribute_docs(HParams)
    group = parser.add_argument_group("HParams fields")
    for name in HPARAM_FIELDS:
        add_field_flag(group, name, float(getattr(defaults.hparams, name)), hp_docs.get(name, "") + note)


def config_from_args(args) -> PPOConfig:
    static = {name: getattr(args, name) for name in STATIC_FIELDS}
    for name, value in static.items():
        if isinstance(value, list):
            static[name] = tuple(value)
    hp = HParams(**{name: getattr(args, name) for name in HPARAM_FIELDS})
    return PPOConfig(**static, hparams=hp)


def read_run(run_dir: str) -> dict:
    """config, run info and checkpoint info of an existing output folder (for --resume)."""
    from ppo_jax.checkpoint import checkpoint_info

    info = checkpoint_info(os.path.join(run_dir, CHECKPOINT_DIR))  # clear error if missing
    with open(os.path.join(run_dir, "run.json")) as f:
        run_info = json.load(f)
    return {"config": info["config"], "run": run_info, "checkpoint": info}


# --- training ------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _progress_bar():
    from ppo_jax.tracking.progress import ProgressBar

    return ProgressBar(desc="training")


@functools.lru_cache(maxsize=8)
def compiled_population(static_config: PPOConfig, progress: bool, sink=None):
    """(init(key_data, hparams), run(states, hparams, n)) of the seeds' population, jitted;
    cached per static config (and logger)."""
    from ppo_jax.train import make_population

    population = make_population(static_config, progress=_progress_bar() if progress else None,
                                 logger=sink)
    return population.init, population.run


def _host_metrics(metrics: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float32) for k, v in metrics.items()}


def _concat(old: dict | None, new: dict) -> dict:
    if not old:
        return new
    return {k: np.concatenate([old[k], new[k]], axis=1) for k in new}


def write_metrics(out: str, metrics: dict[str, np.ndarray]) -> None:
    """metrics.npz (raw [num_seeds, updates]) and metrics.csv (tidy), each replaced atomically."""
    from ppo_jax.analysis.frames import tidy_metrics

    def npz(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **metrics)

    atomic_write(os.path.join(out, "metrics.npz"), npz)
    frame = tidy_metrics(metrics)  # the frame TrainOutput.to_dataframe gives: update counts from 1
    atomic_write(os.path.join(out, "metrics.csv"), lambda tmp: frame.to_csv(tmp, index=False))


def write_json(path: str, data: dict) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")

    atomic_write(path, write)


def save_progress(out, config, state, metrics, run_info) -> None:
    """Metrics first, then the checkpoint: the checkpoint never runs ahead of the metrics."""
    from ppo_jax.checkpoint import save

    write_metrics(out, metrics)
    write_json(os.path.join(out, "run.json"), run_info)
    save(os.path.join(out, CHECKPOINT_DIR), config, state,
         metadata={"num_seeds": run_info["num_seeds"], "seed": run_info["seed"]})


def load_resume(out: str, run: dict):
    """The population state and the metrics up to the checkpoint's update."""
    from ppo_jax.checkpoint import load

    config, state = load(os.path.join(out, CHECKPOINT_DIR))
    done = run["checkpoint"]["update_step"]
    with np.load(os.path.join(out, "metrics.npz")) as data:
        metrics = {k: np.asarray(data[k])[:, :done] for k in data.files}
    if metrics and next(iter(metrics.values())).shape[1] != done:
        raise UsageError(f"--resume {out}: metrics.npz holds fewer updates than the checkpoint ({done})")
    return config, state, metrics


def _check_resume_flags(args, saved: PPOConfig, run_info: dict) -> None:
    """Flags default to the saved run's values under --resume: any difference was typed."""
    given = config_from_args(args)
    changed = [name for name in STATIC_FIELDS
               if name != "total_timesteps" and getattr(given, name) != getattr(saved, name)]
    changed += [name for name in HPARAM_FIELDS
                if float(getattr(given.hparams, name)) != float(getattr(saved.hparams, name))]
    changed += [name for name in ("num_seeds", "seed") if getattr(args, name) != run_info[name]]
    if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
        changed.append("out")
    changed = [f"--{name.replace('_', '-')}" for name in changed]
    if changed:
        raise UsageError(
            f"--resume continues the saved run unchanged (only a larger --total-timesteps may be given, "
            f"to extend it); these flags differ from it: {', '.join(changed)}")


def extended_config(saved: PPOConfig, total_timesteps: int, done: int) -> PPOConfig:
    """The resumed run's config: the saved one, with a larger --total-timesteps if given.

    The learning rate then anneals over the new budget (ppo_jax.core.iteration.learning_rate_at).
    """
    if total_timesteps < saved.total_timesteps:
        raise UsageError(
            f"--total-timesteps {total_timesteps} is smaller than the resumed run's "
            f"{saved.total_timesteps}: a run can be extended, not shortened (--max-updates stops "
            "one early)")
    config = saved.replace(total_timesteps=total_timesteps)
    if done >= config.num_updates:
        raise UsageError(
            f"the resumed run has done all {done} of its updates (total_timesteps "
            f"{config.total_timesteps}); to continue it, pass a larger --total-timesteps, e.g. "
            f"{(done + 1) * config.batch_size} or more (whole updates of {config.batch_size} steps)")
    return config


def summarize(metrics: dict[str, np.ndarray]) -> str:
    """One line: the final return (`ppo_jax.analysis.statistics.final_return`) over seeds."""
    from ppo_jax.analysis.statistics import final_return, final_window
    from ppo_jax.outputs import describe_divergence

    returns = metrics["episode_return"]  # [num_seeds, updates done]
    diverged = metrics.get("diverged")
    per_seed = final_return(returns, diverged=diverged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no seed ended an episode: NaN
        mean, low, high = np.nanmean(per_seed), np.nanmin(per_seed), np.nanmax(per_seed)
    line = (f"final return (mean episode_return over the last {final_window(returns.shape[1])} "
            f"updates, 10%): {mean:.1f} over {returns.shape[0]} seeds (min {low:.1f}, max {high:.1f})")
    if diverged is not None and np.any(diverged > 0):
        line += f"\nDIVERGED: {describe_divergence(np.asarray(diverged))}; their final return is -inf"
    return line


def make_loggers(args, out: str):
    """The --track loggers (empty without --track); a usage error for a missing package,
    before anything is compiled or written."""
    from ppo_jax.tracking.loggers import make_logger

    if not args.track:
        return []
    try:
        return make_logger(list(args.track), out, args.run_name or os.path.basename(
            os.path.normpath(out)))
    except (ValueError, ImportError) as err:
        raise UsageError(f"--track: {err}") from err


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ppo_jax")
    except PackageNotFoundError:
        return "unknown"


def run(args: argparse.Namespace, argv: list[str]) -> str:
    """Runs (or resumes) the population described by args; returns the output folder."""
    import jax
    import jax.numpy as jnp

    from ppo_jax.analysis.plots import plot_runs
    from ppo_jax.checkpoint import CheckpointError
    from ppo_jax.core.iteration import METRIC_NAMES
    from ppo_jax.tracking.agents import seed_agents
    from ppo_jax.tracking.loggers import TRACKERS as KNOWN_TRACKERS
    from ppo_jax.tracking.loggers import bind_logger
    from ppo_jax.train import seed_keys

    if args.resume is not None and args.overwrite:
        raise UsageError("--overwrite replaces a run and --resume continues one: give one of them")
    unknown = [name for name in args.track if name not in KNOWN_TRACKERS]
    if unknown:  # bad tracker names fail before any file is touched
        raise UsageError(f"--track: unknown tracker {unknown[0]!r}; valid trackers: "
                         f"{', '.join(KNOWN_TRACKERS)}")
    for flag, value in (("--checkpoint-every", args.checkpoint_every), ("--max-updates", args.max_updates)):
        if value is not None and value < 0:
            raise UsageError(f"{flag} must be 0 or more, got {value}")
    if args.resume is not None:
        try:
            run_info = read_run(args.resume)
        except (CheckpointError, OSError) as err:
            raise UsageError(f"--resume {args.resume}: {err}") from err
        _check_resume_flags(args, run_info["config"], run_info["run"])
        out = args.resume
        try:
            config, state, metrics = load_resume(out, run_info)
        except CheckpointError as err:
            raise UsageError(f"--resume {out}: {err}") from err
        config = extended_config(config, args.total_timesteps, run_info["checkpoint"]["update_step"])
        num_seeds, seed = run_info["run"]["num_seeds"], run_info["run"]["seed"]
        elapsed = run_info["run"].get("wall_time_s", 0.0)
    else:
        try:
            config = config_from_args(args)
        except ValueError as err:
            raise UsageError(str(err)) from err
        out = args.out or os.path.join("runs", config.env.lower())
        num_seeds, seed, state, metrics, elapsed = args.num_seeds, args.seed, None, None, 0.0
        if num_seeds <= 0:
            raise UsageError(f"--num-seeds must be positive, got {num_seeds}")
        if args.max_updates == 0:
            raise UsageError("--max-updates 0: a new run needs at least one update")
        prepare_output_folder(out, args.overwrite, RUN_FILES)
    loggers = make_loggers(args, out)
    sink = bind_logger(loggers or None, config, METRIC_NAMES, seed_agents(config, num_seeds))
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "config.json"), config.to_dict())

    init, run_chunk = compiled_population(dataclasses.replace(config, hparams=HParams()), args.progress,
                                          sink)
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    if state is None:
        state = init(jax.random.key_data(seed_keys(seed, num_seeds)), hparams)
    done = int(np.max(np.asarray(state.update_step)))
    target = config.num_updates
    if args.max_updates is not None:
        target = min(target, done + args.max_updates)
    chunk = args.checkpoint_every if args.checkpoint_every > 0 else config.num_updates
    start = time.perf_counter()

    def info() -> dict:
        return {"num_seeds": num_seeds, "seed": seed, "updates_done": done,
                "num_updates": config.num_updates,
                "wall_time_s": round(elapsed + time.perf_counter() - start, 3),
                "argv": ["ppo-jax", NAME, *argv], "ppo_jax_version": _version()}

    try:
        while done < target:
            n = min(chunk, target - done)
            state, new = run_chunk(state, hparams, n)
            metrics = _concat(metrics, _host_metrics(new))
            done += n
            if done < target:
                save_progress(out, config, state, metrics, info())
    finally:
        if args.progress:
            _progress_bar().close()
        for logger in loggers:
            logger.close()
    save_progress(out, config, state, metrics, info())
    if args.plot:
        plot_runs([(f"{config.env}", config.to_dict(), metrics)],
                  os.path.join(out, "learning_curve.png"), title=f"{config.env}: episode return")
    print(f"{done}/{config.num_updates} updates, {summarize(metrics)}")
    if done < config.num_updates:
        print(f"stopped early (--max-updates); continue with: ppo-jax train --resume {out}")
    print(f"wrote {out}/: config.json run.json metrics.csv metrics.npz {CHECKPOINT_DIR}/"
          + (" learning_curve.png" if args.plot else ""))
    return out
