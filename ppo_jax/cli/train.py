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

Writes to the output folder (a run folder of `ppo_jax.train_run`, which this
command is a thin layer over):
  config.json          the PPOConfig (PPOConfig.from_dict reads it back)
  run.json             num_seeds, seed, updates done, status, wall time, command line
  metrics.csv          tidy: one row per (seed, update), one column per metric
  metrics.npz          raw arrays, one per metric: float32 [num_seeds, updates]
  checkpoint/          the population's TrainState and config, the --keep-checkpoints
                       latest saves (ppo_jax.load reads the latest)
  learning_curve.png   return vs env steps (mean over seeds, 95% band) + diagnostics
  tensorboard/, wandb/, metrics.jsonl   with --track: live curves, one per seed

An output folder that exists and is not empty is refused (exit code 2, nothing
touched) unless --resume continues the run in it or --overwrite replaces it.
--overwrite removes the previous run's files above (and temporary files an
interrupted save left) before training, so nothing stale stays beside the new
run; it refuses a folder holding anything else, which it never deletes.

SIGTERM (a scheduler's preemption) or Ctrl-C stops the run cleanly: it finishes
the current chunk of --checkpoint-every updates (the whole run without it),
saves its metrics and checkpoint, and exits with code 3 (interrupted,
resumable: continue with --resume DIR). A second signal stops it at once.

Exit codes: 0 done; 2 bad input (nothing compiled or written); 3 interrupted by
SIGTERM or SIGINT, checkpoint saved, resumable; 130 a second Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import os
import warnings

import numpy as np

from ppo_jax.cli.common import (
    BoolFlag,
    UsageError,
    add_distributed_arguments,
    add_field_flag,
    attribute_docs,
    flag_help,
    initialize_distributed,
    prepare_output_folder,
)
from ppo_jax.config.config import ACTIVATIONS, NETWORKS, OBJECTIVES, STATIC_FIELDS, PPOConfig
from ppo_jax.config.hparams import HPARAM_FIELDS, HParams

NAME = "train"
HELP = "train a population of PPO agents (one compile, vmapped over seeds)"
USAGE = "ppo-jax train [--env ENV] [--num-seeds N] [--out DIR] [--resume DIR] [FLAG ...]"
CHECKPOINT_DIR = "checkpoint"
# Everything a run writes into its output folder (--overwrite removes exactly these, and
# their temporary siblings left by an interrupted save): the run folder's files
# (ppo_jax.runs.RUN_FILES) and the --track outputs.
RUN_FILES = ("config.json", "run.json", "metrics.csv", "metrics.npz", "learning_curve.png",
             CHECKPOINT_DIR, "metrics.jsonl", "tensorboard", "wandb")
# The exit code of a run stopped by SIGTERM or SIGINT after saving its last chunk.
EXIT_INTERRUPTED = 3
DEFAULT_KEEP_CHECKPOINTS = 3


# --- flags ---------------------------------------------------------------------------
def _pre_parse(argv: list[str]) -> argparse.Namespace:
    """--env, --resume and --preset decide the other flags' defaults: read them first."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env", default="CartPole-v1")
    pre.add_argument("--resume", default=None)
    pre.add_argument("--preset", dest="preset", action="store_true", default=True)
    pre.add_argument("--no-preset", dest="preset", action="store_false")
    return pre.parse_known_args(argv)[0]


def env_id(value: str) -> str:
    """--env's type: `value` if `PPOConfig.env` accepts it, else the error naming the valid ids.

    Checked by `check_env_id`, which imports only the suite the id names: building a
    list of every id would import every installed suite (seconds on each command).
    Some suites print on stdout when imported (Brax: "Failed to import warp"), which
    would open --help: that output is dropped.
    """
    from ppo_jax.config.config import check_env_id

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check_env_id(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _is_env_id(value: str) -> bool:
    try:
        env_id(value)
    except argparse.ArgumentTypeError:
        return False
    return True


def _defaults_for(pre: argparse.Namespace) -> tuple[PPOConfig, str, dict]:
    """(config whose values are the flags' defaults, help note, run option defaults:
    num_seeds, seed, checkpoint_every, keep_checkpoints)."""
    from ppo_jax.config.presets import preset

    if pre.resume is not None:
        run = read_run(pre.resume)
        saved = {name: run[name] for name in ("num_seeds", "seed", "checkpoint_every", "keep_checkpoints")}
        return run["config"], " [resumed run's value]", saved
    if not _is_env_id(pre.env):
        return PPOConfig(), "", {}  # the --env flag's type reports the bad id
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
    every, keep = seeds.get("checkpoint_every", 0), seeds.get("keep_checkpoints", DEFAULT_KEEP_CHECKPOINTS)
    run.add_argument("--checkpoint-every", type=int, default=every, metavar="N", help=flag_help(
        "save a checkpoint (and metrics) every N updates; 0: only at the end. Training runs in "
        "chunks of N: SIGTERM or Ctrl-C stops it after the current chunk (exit code 3)", every))
    run.add_argument("--keep-checkpoints", type=int, default=keep, metavar="K", help=flag_help(
        "keep the K latest checkpoints in DIR/checkpoint/ (older ones are deleted)", keep))
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
    run.add_argument("--devices", default="1", metavar="N|all", help=flag_help(
        "devices to train on: the first N of jax.devices(), or all of them (every host's with "
        "--distributed); seeds go on as many as divide --num-seeds, each seed's env groups "
        "(--data-parallel) on the rest", "1"))
    run.add_argument("--group-devices", type=int, default=None, metavar="N", help=flag_help(
        "devices each seed's env groups are split over (a divisor of --data-parallel and of the "
        "device count)", default_text="(default: as many of the devices left by the seeds as "
        "divide --data-parallel)"))
    add_distributed_arguments(run)

    choices = {"activation": tuple(ACTIVATIONS), "network": tuple(NETWORKS), "objective": tuple(OBJECTIVES)}
    metavars = {"env": "ENV"}
    config_docs = attribute_docs(PPOConfig)
    group = parser.add_argument_group("PPOConfig fields")
    for f in dataclasses.fields(PPOConfig):
        if f.name == "hparams":
            continue
        value = getattr(defaults, f.name)
        if f.name == "env_options":  # stored as (key, value) pairs; KEY VALUE pairs on the command line
            value = dict(value)
        add_field_flag(group, f.name, value, config_docs.get(f.name, "") + note,
                       choices=choices.get(f.name), metavar=metavars.get(f.name),
                       value_type=env_id if f.name == "env" else None)
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
    """`ppo_jax.runs.run_info` of an existing output folder (for --resume); a UsageError
    naming --resume if it holds no readable run."""
    from ppo_jax.checkpoint import CheckpointError
    from ppo_jax.runs import run_info

    try:
        return run_info(run_dir)
    except (CheckpointError, OSError, ValueError) as err:
        raise UsageError(f"--resume {run_dir}: {err}") from err


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


def run(args: argparse.Namespace, argv: list[str]) -> str:
    """Runs (or resumes) the population described by args (`ppo_jax.runs.train_run` /
    `resume_run`); returns the output folder.

    Raises SystemExit(EXIT_INTERRUPTED) when SIGTERM or SIGINT stopped the run (its last
    chunk saved), after printing how to continue it.
    """
    if args.distributed:
        if args.track:
            raise UsageError("--track is not supported with --distributed yet (each process would "
                             "write the same files)")
        initialize_distributed(args, argv, NAME)
    from ppo_jax.checkpoint import CheckpointError
    from ppo_jax.runs import resume_run, train_run
    from ppo_jax.tracking.loggers import TRACKERS as KNOWN_TRACKERS

    if args.resume is not None and args.overwrite:
        raise UsageError("--overwrite replaces a run and --resume continues one: give one of them")
    unknown = [name for name in args.track if name not in KNOWN_TRACKERS]
    if unknown:  # bad tracker names fail before any file is touched
        raise UsageError(f"--track: unknown tracker {unknown[0]!r}; valid trackers: "
                         f"{', '.join(KNOWN_TRACKERS)}")
    for flag, value in (("--checkpoint-every", args.checkpoint_every), ("--max-updates", args.max_updates)):
        if value is not None and value < 0:
            raise UsageError(f"{flag} must be 0 or more, got {value}")
    if args.keep_checkpoints < 1:
        raise UsageError(f"--keep-checkpoints must be 1 or more, got {args.keep_checkpoints}")
    options = {"max_updates": args.max_updates, "checkpoint_every": args.checkpoint_every,
               "keep_checkpoints": args.keep_checkpoints, "progress": args.progress, "plot": args.plot,
               "command": ["ppo-jax", NAME, *argv]}
    if args.resume is not None:
        info = read_run(args.resume)
        _check_resume_flags(args, info["config"], info)
        out = args.resume
        config = extended_config(info["config"], args.total_timesteps, info["updates_done"])
        start = functools.partial(resume_run, out, total_timesteps=config.total_timesteps, **options)
    else:
        try:
            config = config_from_args(args)
        except ValueError as err:
            raise UsageError(str(err)) from err
        out = args.out or os.path.join("runs", config.env.lower())
        if args.num_seeds <= 0:
            raise UsageError(f"--num-seeds must be positive, got {args.num_seeds}")
        if args.max_updates == 0:
            raise UsageError("--max-updates 0: a new run needs at least one update")
        _layout(args, config, args.num_seeds)  # bad --devices / --group-devices: before any file is touched
        import jax

        if jax.process_index() == 0 or not args.overwrite:  # only process 0 removes an old run
            prepare_output_folder(out, args.overwrite, RUN_FILES)
        start = functools.partial(train_run, config, out, num_seeds=args.num_seeds, seed=args.seed,
                                  **options)
    layout = _layout(args, config, info["num_seeds"] if args.resume is not None else args.num_seeds)
    loggers = make_loggers(args, out)
    try:
        result = start(logger=loggers or None, devices=layout)
    except CheckpointError as err:
        raise UsageError(f"--resume {out}: {err}") from err
    finally:
        for logger in loggers:
            logger.close()
    _report(result, args.plot)
    return out


def _layout(args: argparse.Namespace, config: PPOConfig, num_seeds: int):
    """--devices and --group-devices as `population_layout`'s device tuple or mesh (None: one device)."""
    import jax

    from ppo_jax.train import population_layout

    devices = _devices(args.devices, jax.devices())
    if devices is None and args.group_devices not in (None, 1):
        raise UsageError(f"--group-devices {args.group_devices} needs several devices: add --devices all")
    try:
        return population_layout(devices, None if devices is None else args.group_devices, num_seeds,
                                 config.data_parallel, "--devices")
    except ValueError as err:
        raise UsageError(str(err)) from err


def _devices(text: str, available: list) -> list | None:
    """--devices: None for 1 (the default device, as without the flag), else the first N or all."""
    if text == "all":
        return None if len(available) == 1 else list(available)
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= len(available):
        raise UsageError(f"--devices must be 'all' or a count from 1 to the {len(available)} "
                         f"device(s) there are, got {text!r}")
    return None if count == 1 else list(available[:count])


def _report(result, plot: bool) -> None:
    """The summary lines (process 0 of a --distributed run prints them); SystemExit(EXIT_INTERRUPTED)
    after a signal."""
    import jax

    out, done, total = result.path, result.updates_done, result.config.num_updates
    if jax.process_index() != 0:
        if result.interrupted:
            raise SystemExit(EXIT_INTERRUPTED)
        return
    print(f"{done}/{total} updates, {summarize(result.metrics)}")
    if result.interrupted:
        print(f"interrupted by {result.stopped_by}: stopped after {done}/{total} updates, checkpoint "
              f"saved; continue with: ppo-jax train --resume {out}")
    elif done < total:
        print(f"stopped early (--max-updates); continue with: ppo-jax train --resume {out}")
    print(f"wrote {out}/: config.json run.json metrics.csv metrics.npz {CHECKPOINT_DIR}/"
          + (" learning_curve.png" if plot else ""))
    if result.interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
