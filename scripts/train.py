"""Train a population of PPO agents from the command line.

    python scripts/train.py --env CartPole-v1 --num-seeds 16 --out runs/cartpole
    python scripts/train.py --env Pendulum-v1 --learning-rate 3e-4 --checkpoint-every 100
    python scripts/train.py --resume runs/cartpole            # continue from the checkpoint
    python scripts/train.py --resume runs/cartpole --total-timesteps 1000000   # extend the run
    python scripts/train.py --env Acrobot-v1 --help           # every flag, with Acrobot's defaults
    python scripts/train.py --eval-every 10 --track tensorboard jsonl --run-name cp  # live curves

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
import dataclasses
import functools
import json
import os
import re
import shutil
import sys
import time
import warnings
from typing import Annotated, Literal, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import tyro

SCRIPTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(SCRIPTS_DIR))  # the working tree's ppo_jax, whatever is installed
sys.path.insert(0, SCRIPTS_DIR)  # plot.py

import ppo_jax  # noqa: E402
from ppo_jax.config import (  # noqa: E402
    ACTIVATIONS, HPARAM_FIELDS, NETWORKS, OBJECTIVES, STATIC_FIELDS, HParams,
)
from ppo_jax.results import tidy_metrics  # noqa: E402
from ppo_jax.statistics import final_return, final_window  # noqa: E402
from ppo_jax.loggers import seed_agents  # noqa: E402
from ppo_jax.train import METRIC_NAMES, seed_keys  # noqa: E402
from ppo_jax.types import describe_divergence  # noqa: E402
from plot import plot_runs  # noqa: E402

CHECKPOINT_DIR = "checkpoint"
# Everything a run writes into its output folder (--overwrite removes exactly these).
RUN_FILES = ("config.json", "run.json", "metrics.csv", "metrics.npz", "learning_curve.png",
             CHECKPOINT_DIR, "metrics.jsonl", "tensorboard", "wandb")
TEMPORARY_FILE = re.compile(r"^(config\.json|run\.json|metrics\.csv|metrics\.npz)\.tmp-\d+$")


def attribute_docs(cls) -> dict[str, str]:
    """The `Attributes:` section of a Google-style class docstring -> {name: text}."""
    doc = cls.__doc__ or ""
    section = doc.split("Attributes:", 1)[-1]
    docs, name = {}, None
    for line in section.splitlines():
        match = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if match and match.group(1) in {f.name for f in dataclasses.fields(cls)}:
            name = match.group(1)
            docs[name] = match.group(2).strip()
        elif name and line.strip():
            docs[name] += " " + line.strip()
    return docs


def _flag(tp, default, help_text, **kwargs):
    field = (dataclasses.field(default_factory=lambda: dict(default)) if isinstance(default, dict)
             else dataclasses.field(default=default))
    return (Annotated[tp, tyro.conf.arg(help=help_text, **kwargs)], field)


def build_args_class(defaults: ppo_jax.PPOConfig, preset_note: str, num_seeds: int = 16, seed: int = 0):
    """A flat frozen dataclass: run options, then every PPOConfig field, then every HParams field."""
    run_fields = [
        ("num_seeds", *_flag(int, num_seeds, "agents trained in parallel (vmapped, one compile)")),
        ("seed", *_flag(int, seed, "seed i gets jax.random.split(jax.random.key(seed), num_seeds)[i]")),
        ("out", *_flag(Optional[str], None, "output folder", metavar="DIR",
                       help_behavior_hint="(default: runs/<env>)")),
        ("resume", *_flag(Optional[str], None, "continue the run in DIR from its checkpoint (its "
                          "config is kept; config flags must match it, except a larger "
                          "--total-timesteps, which extends the run)", metavar="DIR")),
        ("overwrite", *_flag(bool, False, "replace the run already in --out: its files are removed "
                             "first (a folder holding other files is refused)")),
        ("checkpoint_every", *_flag(int, 0, "save a checkpoint (and metrics) every N updates; 0: "
                                    "only at the end", metavar="N")),
        ("max_updates", *_flag(Optional[int], None, "stop after N updates in this invocation (a "
                               "checkpoint is saved; continue with --resume)", metavar="N",
                               help_behavior_hint="(default: run to total_timesteps)")),
        ("progress", *_flag(bool, True, "live progress bar (updates, env steps/s, mean return)")),
        ("track", *_flag(tuple[str, ...], (), "log live metrics, one curve per seed, to trackers: "
                         "tensorboard (DIR/tensorboard/), wandb (DIR/wandb/; WANDB_MODE=offline for "
                         "no network), jsonl (DIR/metrics.jsonl); several allowed",
                         metavar="{tensorboard,wandb,jsonl}")),
        ("run_name", *_flag(Optional[str], None, "the run's name in the trackers", metavar="NAME",
                            help_behavior_hint="(default: the output folder's name)")),
        ("preset", *_flag(bool, True, "start from ppo_jax.preset(env); --no-preset: plain "
                          "PPOConfig defaults")),
        ("plot", *_flag(bool, True, "write learning_curve.png")),
    ]
    types = {
        "env": Literal[tuple(ppo_jax.available_envs(suites=True))],
        "hidden_sizes": tuple[int, ...],
        "activation": Literal[ACTIVATIONS],
        "network": Literal[NETWORKS],
        "conv_channels": tuple[int, ...],
        "objective": Literal[OBJECTIVES],
        "env_options": dict[str, Union[int, str]],  # --env-options episode_length 500 backend mjx
    }
    config_docs = attribute_docs(ppo_jax.PPOConfig)
    config_fields = []
    for f in dataclasses.fields(ppo_jax.PPOConfig):
        if f.name == "hparams":
            continue
        value = getattr(defaults, f.name)
        if f.name == "env_options":  # stored as (key, value) pairs; a dict on the command line
            value = dict(value)
        tp = types.get(f.name, type(value))
        config_fields.append((f.name, *_flag(tp, value, config_docs.get(f.name, "") + preset_note)))
    hp_docs = attribute_docs(HParams)
    hp_fields = [
        (name, *_flag(float, float(getattr(defaults.hparams, name)), hp_docs.get(name, "") + preset_note))
        for name in HPARAM_FIELDS
    ]
    return dataclasses.make_dataclass("TrainArgs", run_fields + config_fields + hp_fields, frozen=True)


def _pre_parse(argv: list[str]) -> argparse.Namespace:
    """--env, --resume and --preset decide the other flags' defaults: read them first."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env", default="CartPole-v1")
    pre.add_argument("--resume", default=None)
    pre.add_argument("--preset", dest="preset", action="store_true", default=True)
    pre.add_argument("--no-preset", dest="preset", action="store_false")
    return pre.parse_known_args(argv)[0]


def _defaults_for(pre: argparse.Namespace) -> tuple[ppo_jax.PPOConfig, str, dict]:
    """(config whose values are the flags' defaults, help note, num_seeds/seed defaults)."""
    if pre.resume is not None:
        try:
            run = read_run(pre.resume)
        except (ppo_jax.CheckpointError, OSError) as err:
            raise SystemExit(f"error: --resume {pre.resume}: {err}") from err
        seeds = {"num_seeds": run["run"]["num_seeds"], "seed": run["run"]["seed"]}
        return run["config"], " [resumed run's value]", seeds
    if pre.env not in ppo_jax.available_envs(suites=True):
        return ppo_jax.PPOConfig(), "", {}  # tyro reports the bad --env with the valid ids
    if pre.preset:
        return ppo_jax.preset(pre.env), "", {}
    return ppo_jax.PPOConfig(env=pre.env), "", {}


def config_from_args(args) -> ppo_jax.PPOConfig:
    static = {name: getattr(args, name) for name in STATIC_FIELDS}
    hp = HParams(**{name: getattr(args, name) for name in HPARAM_FIELDS})
    return ppo_jax.PPOConfig(**static, hparams=hp)


def read_run(run_dir: str) -> dict:
    """config, run info and checkpoint info of an existing output folder (for --resume)."""
    info = ppo_jax.checkpoint_info(os.path.join(run_dir, CHECKPOINT_DIR))  # clear error if missing
    with open(os.path.join(run_dir, "run.json")) as f:
        run_info = json.load(f)
    return {"config": info["config"], "run": run_info, "checkpoint": info}


# --- the output folder -----------------------------------------------------------------
def usage_error(message: str):
    """Exit code 2 (a usage error, as argparse and tyro give) with `message` on stderr."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def is_run_file(name: str) -> bool:
    """Whether `name` (an entry of an output folder) is something this script writes."""
    return name in RUN_FILES or bool(TEMPORARY_FILE.match(name))


def prepare_output_folder(out: str, overwrite: bool) -> None:
    """Checks `out` for a fresh run and, with `overwrite`, removes the previous run's files.

    Refused (exit code 2, nothing touched): `out` is a file; `out` is not empty
    and `overwrite` is off; `overwrite` is on but `out` holds entries this
    script does not write (they may be the user's; they are never deleted).
    """
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        usage_error(f"--out {out} exists and is not a folder")
    entries = sorted(os.listdir(out))
    if not entries:
        return
    if not overwrite:
        usage_error(
            f"--out {out} is not empty (it holds {', '.join(entries)}); pass --overwrite to replace "
            f"the run there, --resume {out} to continue it, or choose another --out")
    foreign = [name for name in entries if not is_run_file(name)]
    if foreign:
        usage_error(
            f"--overwrite: {out} holds files that are not a ppo_jax run's ({', '.join(foreign)}); "
            "they are never deleted: move them or choose another --out")
    for name in entries:  # only the previous run's files are left
        path = os.path.join(out, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


# --- training ------------------------------------------------------------------------
_BAR = ppo_jax.ProgressBar(desc="training")


@functools.lru_cache(maxsize=8)
def compiled_population(static_config: ppo_jax.PPOConfig, progress: bool, sink=None):
    """(init, run) jitted and vmapped over seeds; cached per static config (and logger)."""
    trainer = ppo_jax.make_trainer(static_config, progress=_BAR if progress else None, logger=sink)
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None, None)), static_argnums=2)
    return init, run


def _host_metrics(metrics: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float32) for k, v in metrics.items()}


def _concat(old: dict | None, new: dict) -> dict:
    if not old:
        return new
    return {k: np.concatenate([old[k], new[k]], axis=1) for k in new}


def _atomic_write(path: str, write) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_metrics(out: str, metrics: dict[str, np.ndarray]) -> None:
    """metrics.npz (raw [num_seeds, updates]) and metrics.csv (tidy), each replaced atomically."""
    def npz(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **metrics)

    _atomic_write(os.path.join(out, "metrics.npz"), npz)
    frame = tidy_metrics(metrics)  # the frame TrainOutput.to_dataframe gives: update counts from 1
    _atomic_write(os.path.join(out, "metrics.csv"), lambda tmp: frame.to_csv(tmp, index=False))


def write_json(path: str, data: dict) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")

    _atomic_write(path, write)


def save_progress(out, config, state, metrics, run_info) -> None:
    """Metrics first, then the checkpoint: the checkpoint never runs ahead of the metrics."""
    write_metrics(out, metrics)
    write_json(os.path.join(out, "run.json"), run_info)
    ppo_jax.save(os.path.join(out, CHECKPOINT_DIR), config, state,
                 metadata={"num_seeds": run_info["num_seeds"], "seed": run_info["seed"]})


def load_resume(out: str, run: dict):
    """The population state and the metrics up to the checkpoint's update."""
    config, state = ppo_jax.load(os.path.join(out, CHECKPOINT_DIR))
    done = run["checkpoint"]["update_step"]
    with np.load(os.path.join(out, "metrics.npz")) as data:
        metrics = {k: np.asarray(data[k])[:, :done] for k in data.files}
    if metrics and next(iter(metrics.values())).shape[1] != done:
        raise SystemExit(f"--resume {out}: metrics.npz holds fewer updates than the checkpoint ({done})")
    return config, state, metrics


def _check_resume_flags(args, saved: ppo_jax.PPOConfig, run_info: dict) -> None:
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
        raise SystemExit(
            f"--resume continues the saved run unchanged (only a larger --total-timesteps may be given, "
            f"to extend it); these flags differ from it: {', '.join(changed)}"
        )


def extended_config(saved: ppo_jax.PPOConfig, total_timesteps: int, done: int) -> ppo_jax.PPOConfig:
    """The resumed run's config: the saved one, with a larger --total-timesteps if given.

    The learning rate then anneals over the new budget (ppo_jax.train.learning_rate_at).
    """
    if total_timesteps < saved.total_timesteps:
        raise SystemExit(
            f"error: --total-timesteps {total_timesteps} is smaller than the resumed run's "
            f"{saved.total_timesteps}: a run can be extended, not shortened (--max-updates stops "
            "one early)")
    config = saved.replace(total_timesteps=total_timesteps)
    if done >= config.num_updates:
        raise SystemExit(
            f"error: the resumed run has done all {done} of its updates (total_timesteps "
            f"{config.total_timesteps}); to continue it, pass a larger --total-timesteps, e.g. "
            f"{(done + 1) * config.batch_size} or more (whole updates of {config.batch_size} steps)")
    return config


def summarize(metrics: dict[str, np.ndarray]) -> str:
    """One line: the final return (`ppo_jax.statistics.final_return`) over seeds."""
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
    """The --track loggers (empty without --track); usage error for an unknown tracker or a
    missing package, before anything is compiled or written."""
    if not args.track:
        return []
    try:
        return ppo_jax.make_logger(args.track, out, args.run_name or os.path.basename(
            os.path.normpath(out)))
    except (ValueError, ImportError) as err:
        usage_error(f"--track: {err}")


def train(args, argv: list[str] | None = None) -> str:
    """Runs (or resumes) the population described by args; returns the output folder."""
    if args.resume is not None and args.overwrite:
        usage_error("--overwrite replaces a run and --resume continues one: give one of them")
    if args.track:  # bad tracker names fail before any file is touched
        unknown = [name for name in args.track if name not in ppo_jax.loggers.TRACKERS]
        if unknown:
            usage_error(f"--track: unknown tracker {unknown[0]!r}; valid trackers: "
                        f"{', '.join(ppo_jax.loggers.TRACKERS)}")
    if args.resume is not None:
        run = read_run(args.resume)
        _check_resume_flags(args, run["config"], run["run"])
        out = args.resume
        config, state, metrics = load_resume(out, run)
        config = extended_config(config, args.total_timesteps, run["checkpoint"]["update_step"])
        num_seeds, seed = run["run"]["num_seeds"], run["run"]["seed"]
        elapsed = run["run"].get("wall_time_s", 0.0)
    else:
        try:
            config = config_from_args(args)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from err
        out = args.out or os.path.join("runs", config.env.lower())
        num_seeds, seed, state, metrics, elapsed = args.num_seeds, args.seed, None, None, 0.0
        if num_seeds <= 0:
            raise SystemExit(f"error: --num-seeds must be positive, got {num_seeds}")
        prepare_output_folder(out, args.overwrite)
    loggers = make_loggers(args, out)
    sink = ppo_jax.loggers.bind_logger(loggers or None, config, METRIC_NAMES,
                                       seed_agents(config, num_seeds))
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "config.json"), config.to_dict())

    init, run_chunk = compiled_population(dataclasses.replace(config, hparams=HParams()), args.progress,
                                          sink)
    hparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), config.hparams)
    if state is None:
        state = init(seed_keys(seed, num_seeds), hparams)
    done = int(np.max(np.asarray(state.update_step)))
    target = config.num_updates
    if args.max_updates is not None:
        target = min(target, done + args.max_updates)
    chunk = args.checkpoint_every if args.checkpoint_every > 0 else config.num_updates
    start = time.perf_counter()
    run_info = lambda: {
        "num_seeds": num_seeds, "seed": seed, "updates_done": done, "num_updates": config.num_updates,
        "wall_time_s": round(elapsed + time.perf_counter() - start, 3),
        "argv": argv,
        "ppo_jax_version": ppo_jax.__version__,
    }
    try:
        while done < target:
            n = min(chunk, target - done)
            state, new = run_chunk(state, hparams, n)
            metrics = _concat(metrics, _host_metrics(new))
            done += n
            if done < target:
                save_progress(out, config, state, metrics, run_info())
    finally:
        _BAR.close()
        for logger in loggers:
            logger.close()
    if metrics is None:  # only when --max-updates 0 on a fresh run
        raise SystemExit(f"error: {out}: no updates to run")
    save_progress(out, config, state, metrics, run_info())
    if args.plot:
        plot_runs([(f"{config.env}", config.to_dict(), metrics)],
                  os.path.join(out, "learning_curve.png"), title=f"{config.env}: episode return")
    print(f"{done}/{config.num_updates} updates, {summarize(metrics)}")
    if done < config.num_updates:
        print(f"stopped early (--max-updates); continue with: python scripts/train.py --resume {out}")
    print(f"wrote {out}/: config.json run.json metrics.csv metrics.npz {CHECKPOINT_DIR}/"
          + (" learning_curve.png" if args.plot else ""))
    return out


def parse_args(argv: list[str]):
    pre = _pre_parse(argv)
    defaults, note, seeds = _defaults_for(pre)
    args_class = build_args_class(defaults, note, **seeds)
    description = (__doc__ or "").split("\n\n")[0].strip()
    return tyro.cli(args_class, args=argv, description=description + " Defaults shown: the "
                    + ("resumed run's config." if pre.resume else f"preset for --env {defaults.env}."))


def main(argv: list[str] | None = None) -> str:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        return train(args, argv)
    except ppo_jax.CheckpointError as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
