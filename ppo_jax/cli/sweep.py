"""A hyperparameter sweep from the command line: a thin CLI over `ppo_jax.sweep`.

    ppo-jax sweep --env CartPole-v1 --grid learning_rate=1e-4,3e-4,1e-3 \\
        --grid clip_eps=0.1,0.2 --num-seeds 16 --out runs/sweep
    ppo-jax sweep --env Acrobot-v1 --random learning_rate=1e-4:1e-2:log \\
        --random ent_coef=0:0.02 --num-configs 16 --num-seeds 8 --out runs/acrobot_search
    ppo-jax sweep --set total_timesteps=100000 --set num_envs=8 --grid hidden_sizes=64x64,32x32 ...
    ppo-jax sweep --grid learning_rate=1e-4,1e-3 --set eval_every=10 --track tensorboard jsonl

The base config is `ppo_jax.preset(env)` with the --set overrides. --grid takes
comma-separated values (repeat the flag for a Cartesian product); --random takes
low:high or low:high:log ranges, or a|b|c choices, for `ppo_jax.random_search`.
Values are parsed by field type: floats for HParams, ints, true/false, and
hidden sizes as 64x64.

Prints the summary (mean final return with a 95% bootstrap CI, best first) and
writes to --out: sweep.csv (tidy: one row per configuration, seed and update),
summary.csv, configs.json and learning_curves.png (per configuration, the mean
episode return over seeds with a 95% bootstrap band).

On several hosts, run the same command on every host with --distributed (see the
docs guide "Scaling out", section "Several hosts"); only process 0 prints and writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppo_jax.cli.common import (
    UsageError,
    add_base_config_arguments,
    add_distributed_arguments,
    initialize_distributed,
    parse_grid,
    parse_overrides,
    parse_range,
)

NAME = "sweep"
HELP = "a grid or random hyperparameter sweep (ppo_jax.sweep)"


def add_arguments(p: argparse.ArgumentParser, argv: list[str]) -> None:
    add_base_config_arguments(p)
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values of one swept setting; repeat for a Cartesian product")
    p.add_argument("--random", action="append", default=[], metavar="KEY=LOW:HIGH[:log]",
                   help="a random-search range (or a|b|c choice) instead of --grid; repeatable")
    p.add_argument("--num-configs", type=int, default=16,
                   help="configurations drawn by --random (default: %(default)s)")
    p.add_argument("--num-seeds", type=int, default=8, help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("runs/sweep"),
                   help="output folder (default: %(default)s)")
    p.add_argument("--track", action="extend", nargs="+", default=[], metavar="TRACKER",
                   help="log live curves, one per configuration and seed, named after the swept "
                        "values: tensorboard (OUT/tensorboard/), wandb (OUT/wandb/), jsonl "
                        "(OUT/metrics.jsonl); several allowed, flag repeatable")
    p.add_argument("--run-name", help="the sweep's name in the trackers (default: --out's name)")
    p.add_argument("--track-population", choices=("agents", "reduce"), default="agents",
                   help="agents: a curve per (configuration, seed); reduce: per configuration, "
                        "mean/min/max over seeds (default: %(default)s)")
    p.add_argument("--group-devices", type=int, default=1, metavar="N",
                   help="devices each member's env groups (--set data_parallel=G) are split over: "
                        "the devices form a mesh of members x N (default: %(default)s, members only)")
    add_distributed_arguments(p)


def grid_from_args(args: argparse.Namespace):
    """The `grid` argument of `ppo_jax.sweep` from --grid or --random."""
    from ppo_jax.population.search import random_search

    if bool(args.grid) == bool(args.random):
        raise UsageError("give --grid or --random (one of them, repeatable)")
    if args.random:
        space = dict(parse_range(text, "--random") for text in args.random)
        try:
            return random_search(space, args.num_configs, args.seed)
        except ValueError as err:
            raise UsageError(f"--random: {err}") from err
    return parse_grid(args.grid, "--grid")


def write_outputs(result, out: Path) -> None:
    from ppo_jax.analysis.plots import plot_sweep

    out.mkdir(parents=True, exist_ok=True)
    result.to_dataframe().to_csv(out / "sweep.csv", index=False)
    result.summary().to_csv(out / "summary.csv", index=False)
    configs = [{"config": i, "settings": result.settings[i], "config_dict": cfg.to_dict()}
               for i, cfg in enumerate(result.configs)]
    (out / "configs.json").write_text(json.dumps(configs, indent=1, default=list))
    plot_sweep(result, out / "learning_curves.png")


# Set in the process that _initialize_distributed re-executes: it has called
# jax.distributed.initialize() before importing ppo_jax.
def run(args: argparse.Namespace, argv: list[str]):
    """Runs the sweep; process 0 prints the summary and writes the outputs. Returns the SweepResult."""
    if args.distributed:
        if args.track:
            raise UsageError("--track is not supported with --distributed yet (each process would "
                             "write the same files)")
        initialize_distributed(args, argv, NAME)
    import jax

    from ppo_jax.config.presets import preset
    from ppo_jax.population.sweep import sweep
    from ppo_jax.tracking.loggers import make_logger

    for flag, value in (("--num-seeds", args.num_seeds), ("--num-configs", args.num_configs)):
        if value <= 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    loggers = []
    try:
        try:
            base = preset(args.env, **parse_overrides(args.set, "--set"))
        except UsageError:
            raise
        except (ValueError, KeyError) as err:
            raise UsageError(str(err)) from err
        grid = grid_from_args(args)
        if args.track:
            try:
                loggers = make_logger(args.track, args.out, args.run_name or args.out.name,
                                      population=args.track_population)
            except (ValueError, ImportError) as err:
                raise UsageError(f"--track: {err}") from err
        try:
            result = sweep(base, grid, num_seeds=args.num_seeds, seed=args.seed, logger=loggers or None,
                           group_devices=args.group_devices)
        except ValueError as err:  # the grid's values are checked before anything is compiled
            raise UsageError(str(err)) from err
    finally:
        for logger in loggers:
            logger.close()
    if jax.process_index() == 0:
        print(f"{result.num_configs} configurations x {result.num_seeds} seeds on "
              f"{len(jax.devices())} device(s), {result.num_compiles} compile(s)")
        print(result.summary().to_string(index=False))
        write_outputs(result, args.out)
        print(f"wrote {args.out}/sweep.csv, summary.csv, configs.json, learning_curves.png")
    return result
