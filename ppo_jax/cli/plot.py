"""Redraw the learning-curve figure from one or more output folders of `ppo-jax train`.

    ppo-jax plot runs/cartpole                          # -> runs/cartpole/learning_curve.png
    ppo-jax plot runs/lr3e-4 runs/lr1e-3 --out cmp.png  # overlay several runs
    ppo-jax plot runs/a runs/b --labels base tuned --out cmp.png

Left panel: episode return against env steps (per agent), the mean over
seeds with a 95% confidence band (Student t over seeds). Right: training
diagnostics (policy and value loss, entropy, approximate KL, clip fraction,
explained variance), mean over seeds. The figure is
`ppo_jax.analysis.plots.plot_runs`.
"""

from __future__ import annotations

import argparse
import os

from ppo_jax.cli.common import UsageError

NAME = "plot"
HELP = "redraw or overlay learning curves of `ppo-jax train` folders"


def add_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    parser.add_argument("runs", nargs="+", metavar="DIR", help="output folders of `ppo-jax train`")
    parser.add_argument("--out", default=None,
                        help="PNG to write (default: DIR/learning_curve.png for one run; required "
                             "for several)")
    parser.add_argument("--labels", nargs="+", default=None, help="legend labels, one per DIR")
    parser.add_argument("--title", default=None, help="title of the return panel")


def run(args: argparse.Namespace, argv: list[str]) -> list[str]:
    """Draws the figure; returns [the PNG's path]."""
    from ppo_jax.analysis.plots import default_label, load_run, plot_runs

    if args.labels is not None and len(args.labels) != len(args.runs):
        raise UsageError(f"--labels needs one label per run ({len(args.runs)}), got {len(args.labels)}")
    if args.out is None and len(args.runs) > 1:
        raise UsageError("--out is required when overlaying several runs")
    out = args.out or os.path.join(args.runs[0], "learning_curve.png")
    runs = []
    for i, run_dir in enumerate(args.runs):
        try:
            config, metrics = load_run(run_dir)
        except FileNotFoundError as err:
            raise UsageError(str(err)) from err
        label = args.labels[i] if args.labels else default_label(run_dir, config)
        runs.append((label, config, metrics))
    plot_runs(runs, out, args.title)
    print(f"wrote {out}")
    return [out]
