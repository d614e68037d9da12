"""Population-based training from the command line: a thin CLI over `ppo_jax.pbt`.

    ppo-jax pbt --env CartPole-v1 --space learning_rate=1e-5:1e-2:log \\
        --init learning_rate=1e-5:3e-5:log --population 8 --ready-every 9 --num-seeds 2 --out runs/pbt
    ppo-jax pbt --env Acrobot-v1 --space learning_rate=1e-4:1e-2:log --space ent_coef=0:0.05 \\
        --set total_timesteps=204800 --max-generations 10 --out runs/acrobot_pbt
    ppo-jax pbt --resume runs/acrobot_pbt        # continue from its checkpoint

The base config is `ppo_jax.preset(env)` with the --set overrides (as in
`ppo-jax sweep`). --space takes low:high or low:high:log ranges of HParams
fields (repeatable); --init optionally narrows where the first generation is
drawn from.

Writes to --out (after every --checkpoint-every generations and at the end):
  pbt.csv        tidy: one row per (run, member, update): generation, parent,
                 the evolved hparams in effect, fitness, every metric
  lineage.csv    one row per (run, generation, member): parent, copied, fitness, hparams
  best.json      the final best member: run, member, fitness, its hparam schedule
                 along its lineage, and its config (final hparams)
  pbt.png        hparam schedules and every member's return (run 0)
  checkpoint/    the whole run (PBTResult.save): --resume continues it

An output folder that exists and is not empty is refused (exit code 2, nothing
touched) unless --resume continues the run in it or --overwrite replaces it;
--overwrite removes only the files listed above and refuses a folder holding
anything else.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppo_jax.cli.common import (
    UsageError,
    add_base_config_arguments,
    parse_overrides,
    parse_ranges,
    prepare_output_folder,
)

NAME = "pbt"
HELP = "population-based training (ppo_jax.pbt), resumable"
CHECKPOINT_DIR = "checkpoint"
RUN_FILES = ("pbt.csv", "lineage.csv", "best.json", "pbt.png", CHECKPOINT_DIR)
# Flags that describe the run: under --resume they come from the checkpoint.
RUN_FLAGS = ("env", "set", "space", "init", "population", "ready_every", "num_seeds", "seed",
             "truncation", "perturb", "resample_probability", "out", "overwrite")


def add_arguments(p: argparse.ArgumentParser, argv: list[str]) -> None:
    add_base_config_arguments(p)
    p.add_argument("--space", action="append", default=[], metavar="KEY=LOW:HIGH[:log]",
                   help="an evolved HParams field and its range; repeatable")
    p.add_argument("--init", action="append", default=[], metavar="KEY=LOW:HIGH[:log]",
                   help="where the first generation of KEY is drawn (inside its --space range)")
    p.add_argument("--population", type=int, default=8, help="members per run (default: %(default)s)")
    p.add_argument("--ready-every", type=int, default=10,
                   help="updates between exploit steps (default: %(default)s)")
    p.add_argument("--num-seeds", type=int, default=1,
                   help="independent PBT runs (vmapped) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--truncation", type=float, default=0.25,
                   help="bottom fraction that copies the top fraction (0: no copying) (default: %(default)s)")
    p.add_argument("--perturb", default="0.8,1.2", metavar="LOW,HIGH",
                   help="factors a copied member's hparams are multiplied by (default: %(default)s)")
    p.add_argument("--resample-probability", type=float, default=0.25,
                   help="probability of redrawing a copied hparam from its range instead "
                        "(default: %(default)s)")
    p.add_argument("--max-generations", type=int, default=None,
                   help="stop after N generations in this invocation (continue with --resume)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="write the outputs and checkpoint every N generations (0: at the end)")
    p.add_argument("--out", type=Path, default=Path("runs/pbt"), help="output folder (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace the PBT run already in --out")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run in DIR from its checkpoint (its settings are kept)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--group-devices", type=int, default=1, metavar="N",
                   help="devices each member's env groups (--set data_parallel=G) are split over: "
                        "the devices form a mesh of members x N (default: %(default)s, members only)")


def parse_factors(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"--perturb takes two numbers LOW,HIGH (e.g. 0.8,1.2), got {text!r}") from None
    return low, high


def best_summary(result) -> dict:
    best = result.best()
    return {"run": best.run, "member": best.member, "fitness": best.fitness,
            "schedule": {k: v.tolist() for k, v in best.schedule.items()},
            "lineage": best.lineage.tolist(), "config": best.config.to_dict()}


def write_outputs(result, out: Path) -> None:
    """Tables, best member and plot, then the checkpoint (never ahead of the tables)."""
    out.mkdir(parents=True, exist_ok=True)
    result.to_dataframe().to_csv(out / "pbt.csv", index=False)
    result.lineage_frame().to_csv(out / "lineage.csv", index=False)
    (out / "best.json").write_text(json.dumps(best_summary(result), indent=1))
    result.plot(out / "pbt.png")
    result.save(out / CHECKPOINT_DIR)


def run_arguments(args: argparse.Namespace) -> tuple[object, dict]:
    """(config, pbt keyword arguments) from the flags, or from the checkpoint under --resume."""
    from ppo_jax.config.presets import preset
    from ppo_jax.pbt.result import PBTResult

    if args.resume is not None:
        defaults = argparse.ArgumentParser()
        add_arguments(defaults, [])
        typed = [f"--{name.replace('_', '-')}" for name in RUN_FLAGS
                 if getattr(args, name) != defaults.get_default(name)]
        if typed:
            raise UsageError(f"--resume continues the saved run with its own settings; drop "
                             f"{', '.join(typed)} (only --max-generations, --checkpoint-every and "
                             "--no-progress apply)")
        saved = PBTResult.load(args.resume / CHECKPOINT_DIR)
        return saved.config, dict(
            space=saved.space, init_space=saved.init_space, population=saved.population,
            ready_every=saved.ready_every, num_seeds=saved.num_seeds, seed=saved.seed,
            truncation=saved.settings.truncation, perturb_factors=saved.settings.perturb_factors,
            resample_probability=saved.settings.resample_probability, resume=saved)
    if not args.space:
        raise UsageError("give at least one --space KEY=LOW:HIGH[:log]")
    config = preset(args.env, **parse_overrides(args.set, "--set"))
    return config, dict(
        space=parse_ranges(args.space, "--space"), init_space=parse_ranges(args.init, "--init") or None,
        population=args.population, ready_every=args.ready_every, num_seeds=args.num_seeds,
        seed=args.seed, truncation=args.truncation, perturb_factors=parse_factors(args.perturb),
        resample_probability=args.resample_probability, resume=None)


def run(args: argparse.Namespace, argv: list[str]):
    """Runs (or resumes) PBT, writing the outputs every --checkpoint-every generations; returns
    the PBTResult."""
    from ppo_jax.checkpoint import CheckpointError
    from ppo_jax.pbt.run import pbt
    from ppo_jax.tracking.progress import ProgressBar

    for flag, value in (("--max-generations", args.max_generations),
                        ("--checkpoint-every", args.checkpoint_every)):
        if value is not None and value < 0:
            raise UsageError(f"{flag} must be 0 or more, got {value}")
    out = args.resume if args.resume is not None else args.out
    try:
        config, kwargs = run_arguments(args)
        if args.resume is None:
            prepare_output_folder(out, args.overwrite, RUN_FILES, "a PBT run's")
        progress = None if args.no_progress else ProgressBar(desc="pbt")
        result = kwargs.pop("resume")
        chunk = args.checkpoint_every or None
        todo = args.max_generations
        while result is None or not result.complete:
            step = min(x for x in (chunk, todo, 10**9) if x is not None)
            result = pbt(config, kwargs["space"], resume=result, max_generations=step,
                         progress=progress, group_devices=args.group_devices,
                         **{k: v for k, v in kwargs.items() if k != "space"})
            write_outputs(result, out)
            todo = None if todo is None else todo - step
            if todo == 0:
                break
    except UsageError:
        raise
    except (ValueError, CheckpointError) as err:
        raise UsageError(str(err)) from err
    best = result.best()
    print(f"{result.generations_done}/{result.num_generations} generations of {result.ready_every} "
          f"updates, {result.num_seeds} run(s) x {result.population} members; best: run {best.run} "
          f"member {best.member}, last-generation fitness {best.fitness:.1f}, final "
          + ", ".join(f"{k}={v[-1]:.4g}" for k, v in best.schedule.items()))
    if not result.complete:
        print(f"stopped early (--max-generations); continue with: ppo-jax pbt --resume {out}")
    print(f"wrote {out}/: pbt.csv lineage.csv best.json pbt.png {CHECKPOINT_DIR}/")
    return result
