"""Population-based training from the command line: a thin CLI over `ppo_jax.pbt`.

    python scripts/pbt.py --env CartPole-v1 --space learning_rate=1e-5:1e-2:log \
        --init learning_rate=1e-5:3e-5:log --population 8 --ready-every 10 --num-seeds 2 --out runs/pbt
    python scripts/pbt.py --env Acrobot-v1 --space learning_rate=1e-4:1e-2:log --space ent_coef=0:0.05 \
        --set total_timesteps=200704 --max-generations 10 --out runs/acrobot_pbt
    python scripts/pbt.py --resume runs/acrobot_pbt        # continue from its checkpoint

The base config is `ppo_jax.preset(env)` with the --set overrides (as in
scripts/sweep.py). --space takes low:high or low:high:log ranges of HParams
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
import os
import shutil
import sys
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS_DIR.parent))  # the working tree's ppo_jax, whatever is installed
sys.path.insert(0, str(SCRIPTS_DIR))  # sweep.py's parsers

from sweep import parse_random, parse_set  # noqa: E402

CHECKPOINT_DIR = "checkpoint"
RUN_FILES = ("pbt.csv", "lineage.csv", "best.json", "pbt.png", CHECKPOINT_DIR)
# Flags that describe the run: under --resume they come from the checkpoint.
RUN_FLAGS = ("env", "set", "space", "init", "population", "ready_every", "num_seeds", "seed",
             "truncation", "perturb", "resample_probability", "out", "overwrite")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="CartPole-v1", help="env id: gymnax, or brax/<name>, navix/<id>, craftax/<id> (base: ppo_jax.preset(env))")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base setting (static field or HParams field); repeatable")
    p.add_argument("--space", action="append", default=[], metavar="KEY=LOW:HIGH[:log]",
                   help="an evolved HParams field and its range; repeatable")
    p.add_argument("--init", action="append", default=[], metavar="KEY=LOW:HIGH[:log]",
                   help="where the first generation of KEY is drawn (inside its --space range)")
    p.add_argument("--population", type=int, default=8, help="members per run")
    p.add_argument("--ready-every", type=int, default=10, help="updates between exploit steps")
    p.add_argument("--num-seeds", type=int, default=1, help="independent PBT runs (vmapped)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=0.25,
                   help="bottom fraction that copies the top fraction (0: no copying)")
    p.add_argument("--perturb", default="0.8,1.2", metavar="LOW,HIGH",
                   help="factors a copied member's hparams are multiplied by")
    p.add_argument("--resample-probability", type=float, default=0.25,
                   help="probability of redrawing a copied hparam from its range instead")
    p.add_argument("--max-generations", type=int, default=None,
                   help="stop after N generations in this invocation (continue with --resume)")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="write the outputs and checkpoint every N generations (0: at the end)")
    p.add_argument("--out", type=Path, default=Path("runs/pbt"), help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace the PBT run already in --out")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run in DIR from its checkpoint (its settings are kept)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def parse_ranges(texts: list[str], option: str) -> dict:
    """key=low:high[:log] flags -> {key: (low, high[, "log"])}."""
    ranges = {}
    for text in texts:
        key, spec = parse_random(text)
        if isinstance(spec, list):
            raise ValueError(f"{option} {key}: PBT evolves ranges low:high[:log], not choices a|b|c")
        ranges[key] = tuple(spec)
    return ranges


def parse_factors(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--perturb takes two numbers LOW,HIGH (e.g. 0.8,1.2), got {text!r}") from None
    return low, high


def prepare_output_folder(parser: argparse.ArgumentParser, out: Path, overwrite: bool) -> None:
    """Refuses a non-empty `out` unless `overwrite`; then removes only a previous run's files."""
    if not out.exists():
        return
    if not out.is_dir():
        parser.error(f"--out {out} exists and is not a folder")
    entries = sorted(os.listdir(out))
    if entries and not overwrite:
        parser.error(f"--out {out} is not empty (it holds {', '.join(entries)}); pass --overwrite to "
                     f"replace the run there, --resume {out} to continue it, or choose another --out")
    foreign = [e for e in entries if e not in RUN_FILES]
    if foreign:
        parser.error(f"--overwrite: {out} holds files that are not a PBT run's ({', '.join(foreign)}); "
                     "they are never deleted: move them or choose another --out")
    for name in entries:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


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


def run_arguments(args, parser) -> tuple[object, dict]:
    """(config, pbt keyword arguments) from the flags, or from the checkpoint under --resume."""
    import ppo_jax

    if args.resume is not None:
        typed = [f"--{name.replace('_', '-')}" for name in RUN_FLAGS
                 if getattr(args, name) != parser.get_default(name)]
        if typed:
            parser.error(f"--resume continues the saved run with its own settings; drop "
                         f"{', '.join(typed)} (only --max-generations, --checkpoint-every and "
                         "--no-progress apply)")
        saved = ppo_jax.PBTResult.load(args.resume / CHECKPOINT_DIR)
        return saved.config, dict(
            space=saved.space, init_space=saved.init_space, population=saved.population,
            ready_every=saved.ready_every, num_seeds=saved.num_seeds, seed=saved.seed,
            truncation=saved.settings.truncation, perturb_factors=saved.settings.perturb_factors,
            resample_probability=saved.settings.resample_probability, resume=saved)
    if not args.space:
        raise ValueError("give at least one --space KEY=LOW:HIGH[:log]")
    config = ppo_jax.preset(args.env, **dict(parse_set(text) for text in args.set))
    return config, dict(
        space=parse_ranges(args.space, "--space"), init_space=parse_ranges(args.init, "--init") or None,
        population=args.population, ready_every=args.ready_every, num_seeds=args.num_seeds,
        seed=args.seed, truncation=args.truncation, perturb_factors=parse_factors(args.perturb),
        resample_probability=args.resample_probability, resume=None)


def main(argv: list[str] | None = None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import ppo_jax

    out = args.resume if args.resume is not None else args.out
    try:
        config, kwargs = run_arguments(args, parser)
        if args.resume is None:
            prepare_output_folder(parser, out, args.overwrite)
        progress = None if args.no_progress else ppo_jax.ProgressBar(desc="pbt")
        result = kwargs.pop("resume")
        chunk = args.checkpoint_every or None
        todo = args.max_generations
        while result is None or not result.complete:
            step = min(x for x in (chunk, todo, 10**9) if x is not None)
            result = ppo_jax.pbt(config, kwargs["space"], resume=result, max_generations=step,
                                 progress=progress, **{k: v for k, v in kwargs.items() if k != "space"})
            write_outputs(result, out)
            todo = None if todo is None else todo - step
            if todo == 0:
                break
    except (ValueError, ppo_jax.CheckpointError) as err:
        parser.error(str(err))
    best = result.best()
    print(f"{result.generations_done}/{result.num_generations} generations of {result.ready_every} "
          f"updates, {result.num_seeds} run(s) x {result.population} members; best: run {best.run} "
          f"member {best.member}, last-generation fitness {best.fitness:.1f}, final "
          + ", ".join(f"{k}={v[-1]:.4g}" for k, v in best.schedule.items()))
    if not result.complete:
        print(f"stopped early (--max-generations); continue with: python scripts/pbt.py --resume {out}")
    print(f"wrote {out}/: pbt.csv lineage.csv best.json pbt.png {CHECKPOINT_DIR}/")
    return result


if __name__ == "__main__":
    main()
