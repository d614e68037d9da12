"""A hyperparameter sweep from the command line: a thin CLI over `ppo_jax.sweep`.

    python scripts/sweep.py --env CartPole-v1 --grid learning_rate=1e-4,3e-4,1e-3 \
        --grid clip_eps=0.1,0.2 --num-seeds 16 --out runs/sweep
    python scripts/sweep.py --env Acrobot-v1 --random learning_rate=1e-4:1e-2:log \
        --random ent_coef=0:0.02 --num-configs 16 --num-seeds 8 --out runs/acrobot_search
    python scripts/sweep.py --set total_timesteps=100000 --set num_envs=8 --grid hidden_sizes=64x64,32x32 ...
    python scripts/sweep.py --grid learning_rate=1e-4,1e-3 --set eval_every=10 --track tensorboard jsonl

The base config is `ppo_jax.preset(env)` with the --set overrides. --grid takes
comma-separated values (repeat the flag for a Cartesian product); --random takes
low:high or low:high:log ranges, or a|b|c choices, for `ppo_jax.random_search`.
Values are parsed by field type: floats for HParams, ints, true/false, and
hidden sizes as 64x64.

Prints the summary (mean final return with a 95% bootstrap CI, best first) and
writes to --out: sweep.csv (tidy: one row per configuration, seed and update),
summary.csv, configs.json and learning_curves.png (per configuration, the mean
episode return over seeds with a 95% bootstrap band).

On several hosts, run the same command on every host with --distributed (see
README, "Scaling out"); only process 0 prints and writes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the working tree's ppo_jax, whatever is installed

# ppo_jax, jax and matplotlib are imported inside the functions: with --distributed,
# jax.distributed.initialize() must run before anything initializes a JAX backend,
# and importing gymnax (through ppo_jax) does.


def _convert(key: str, text: str, convert, expected: str, option: str):
    """convert(text), or a ValueError naming the option, the key, the bad value and the type."""
    try:
        return convert(text)
    except ValueError:
        raise ValueError(f"{option} {key}: {text!r} is not {expected}") from None


def _parse_bool(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(text)
    return text.lower() in ("true", "1")


def _parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("x"))


def parse_value(key: str, text: str, option: str = "--grid"):
    """One value of setting `key` from text, typed like the field's default.

    Raises ValueError naming `option`, `key`, the text and the expected type
    when the text does not parse, and listing the valid keys for an unknown key.
    """
    from ppo_jax.config import HPARAM_FIELDS, STATIC_FIELDS, PPOConfig
    from ppo_jax.grids import VALID_KEYS

    if key not in HPARAM_FIELDS and key not in STATIC_FIELDS:
        raise ValueError(f"{option}: unknown key {key!r}; {VALID_KEYS}")
    if key in HPARAM_FIELDS:
        return _convert(key, text, float, "a number (e.g. 3e-4)", option)
    default = getattr(PPOConfig(), key)
    if isinstance(default, bool):
        return _convert(key, text, _parse_bool, "true or false", option)
    if isinstance(default, int):
        return _convert(key, text, int, "an integer (e.g. 8)", option)
    if isinstance(default, tuple):
        return _convert(key, text, _parse_sizes, "layer sizes as integers joined by x (e.g. 64x64)",
                        option)
    return text


def _split_assignment(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"{option} takes key=value, got {text!r}")
    return key.strip(), value.strip()


def parse_random(text: str) -> tuple[str, object]:
    """key=low:high[:log] -> (key, (low, high[, "log"])); key=a|b|c -> (key, [a, b, c])."""
    key, value = _split_assignment(text, "--random")
    if "|" in value:
        return key, [parse_value(key, v, "--random") for v in value.split("|")]
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"--random {key} takes low:high, low:high:log or a|b|c, got {value!r}")
    bounds = [_convert(key, part, float, "a number (a range is low:high or low:high:log)", "--random")
              for part in parts[:2]]
    return key, (*bounds, *parts[2:])


def parse_set(text: str) -> tuple[str, object]:
    """key=value (a --set override) -> (key, typed value)."""
    key, value = _split_assignment(text, "--set")
    return key, parse_value(key, value, "--set")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="CartPole-v1", help="env id: gymnax, or brax/<name>, navix/<id>, craftax/<id> (base: ppo_jax.preset(env))")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base setting (static field or HParams field); repeatable")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values of one swept setting; repeat for a Cartesian product")
    p.add_argument("--random", action="append", default=[], metavar="KEY=LOW:HIGH[:log]",
                   help="a random-search range (or a|b|c choice) instead of --grid; repeatable")
    p.add_argument("--num-configs", type=int, default=16, help="configurations drawn by --random")
    p.add_argument("--num-seeds", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/sweep"), help="output folder")
    p.add_argument("--track", action="extend", nargs="+", default=[], metavar="TRACKER",
                   help="log live curves, one per configuration and seed, named after the swept "
                        "values: tensorboard (OUT/tensorboard/), wandb (OUT/wandb/), jsonl "
                        "(OUT/metrics.jsonl); several allowed, flag repeatable")
    p.add_argument("--run-name", help="the sweep's name in the trackers (default: --out's name)")
    p.add_argument("--track-population", choices=("agents", "reduce"), default="agents",
                   help="agents: a curve per (configuration, seed); reduce: per configuration, "
                        "mean/min/max over seeds")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (multi-host; see README)")
    p.add_argument("--coordinator-address", help="host:port of process 0 (--distributed)")
    p.add_argument("--num-processes", type=int, help="number of processes (--distributed)")
    p.add_argument("--process-id", type=int, help="this process's index (--distributed)")
    return p


def parse_grid(args: argparse.Namespace):
    """The `grid` argument of `ppo_jax.sweep` from --grid or --random."""
    from ppo_jax import random_search

    if bool(args.grid) == bool(args.random):
        raise ValueError("give --grid or --random (one of them, repeatable)")
    if args.random:
        space = dict(parse_random(text) for text in args.random)
        return random_search(space, args.num_configs, args.seed)
    grid = {}
    for text in args.grid:
        key, values = _split_assignment(text, "--grid")
        grid[key] = [parse_value(key, v.strip(), "--grid") for v in values.split(",")]
    return grid


def plot_learning_curves(result, path: Path) -> None:
    """One panel per configuration: mean episode return over seeds and its 95% bootstrap band."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ppo_jax.statistics import bootstrap_ci

    cols = min(4, result.num_configs)
    rows = math.ceil(result.num_configs / cols)
    # At least 5 x 3.4 inches: a single panel at 3.2 x 2.4 clipped the axis label.
    fig, axes = plt.subplots(rows, cols, figsize=(max(5.0, 3.2 * cols), max(3.4, 2.4 * rows)), sharex=True,
                             sharey=True, squeeze=False)
    for i, (ax, cfg) in enumerate(zip(axes.flat, result.configs)):
        steps = result.metrics["timesteps"][i, 0, : cfg.num_updates]
        mean, low, high = bootstrap_ci(result.metrics["episode_return"][i, :, : cfg.num_updates],
                                       num_resamples=1000)
        # Updates where no episode ended are NaN; skip them so long episodes (Brax's
        # 1000 steps end once every few updates) still draw a connected line.
        seen = np.isfinite(mean)
        ax.plot(steps[seen], mean[seen], lw=1.2)
        ax.fill_between(steps[seen], low[seen], high[seen], alpha=0.3)
        title = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in result.settings[i].items())
        ax.set_title(f"{i}: {title}", fontsize=7)
    for ax in axes.flat[result.num_configs:]:
        ax.set_visible(False)
    fig.supxlabel("env steps")
    fig.suptitle(result.configs[0].env, fontsize=9)
    fig.supylabel(f"episode return\n(mean, 95% CI over {result.num_seeds} seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(result, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.to_dataframe().to_csv(out / "sweep.csv", index=False)
    result.summary().to_csv(out / "summary.csv", index=False)
    configs = [{"config": i, "settings": result.settings[i], "config_dict": cfg.to_dict()}
               for i, cfg in enumerate(result.configs)]
    (out / "configs.json").write_text(json.dumps(configs, indent=1, default=list))
    plot_learning_curves(result, out / "learning_curves.png")


def main(argv: list[str] | None = None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import jax

    if args.distributed:
        jax.distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
    import ppo_jax

    loggers = []
    try:
        if args.track and args.distributed:
            raise ValueError("--track is not supported with --distributed yet (each process "
                             "would write the same files)")
        base = ppo_jax.preset(args.env, **dict(parse_set(text) for text in args.set))
        grid = parse_grid(args)
        if args.track:
            loggers = ppo_jax.make_logger(args.track, args.out, args.run_name or args.out.name,
                                          population=args.track_population)
        result = ppo_jax.sweep(base, grid, num_seeds=args.num_seeds, seed=args.seed,
                               logger=loggers or None)
    except (ValueError, ImportError) as err:
        parser.error(f"--track: {err}" if isinstance(err, ImportError) or "tracker" in str(err)
                     else str(err))
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


if __name__ == "__main__":
    main()
