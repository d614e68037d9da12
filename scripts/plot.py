"""Redraw the learning-curve figure from one or more output folders of scripts/train.py.

    python scripts/plot.py runs/cartpole                          # -> runs/cartpole/learning_curve.png
    python scripts/plot.py runs/lr3e-4 runs/lr1e-3 --out cmp.png  # overlay several runs
    python scripts/plot.py runs/a runs/b --labels base tuned --out cmp.png

Left panel: episode return against env steps (per agent), the mean over
seeds with a 95% confidence band (Student t over seeds). Right: training
diagnostics (policy and value loss, entropy, approximate KL, clip fraction,
explained variance), mean over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

DIAGNOSTICS = (
    ("policy_loss", "policy loss"),
    ("value_loss", "value loss"),
    ("entropy", "entropy"),
    ("approx_kl", "approx. KL"),
    ("clip_fraction", "clip fraction"),
    ("explained_variance", "explained variance"),
)


def load_run(run_dir: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(config dict, metrics: name -> float [num_seeds, num_updates]) of an output folder."""
    metrics_path = os.path.join(run_dir, "metrics.npz")
    if not os.path.exists(metrics_path):
        raise FileNotFoundError(
            f"{run_dir!r} has no metrics.npz: is it an output folder of scripts/train.py?")
    with np.load(metrics_path) as data:
        metrics = {k: np.asarray(data[k]) for k in data.files}
    config_path = os.path.join(run_dir, "config.json")
    config = json.load(open(config_path)) if os.path.exists(config_path) else {}
    return config, metrics


def mean_and_band(values: np.ndarray, confidence: float = 0.95):
    """values [num_seeds, T] (NaN = missing) -> mean, low, high over seeds, each [T].

    The band is mean +- t_{(1+confidence)/2, n-1} * std / sqrt(n), with n the
    seeds that have a value at that update (no band where n < 2).
    """
    values = np.asarray(values, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(np.isfinite(values), axis=0)
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0, ddof=1)
        t = stats.t.ppf((1 + confidence) / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * std / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, mean - half, mean + half


def plot_runs(runs: list[tuple[str, dict, dict]], out_path: str, title: str | None = None) -> str:
    """Draws the two-panel figure for `runs` = [(label, config, metrics), ...] into out_path."""
    fig = plt.figure(figsize=(14, 5.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1.0])
    ax = left.subplots()
    diag_axes = right.subplots(3, 2, sharex=True).ravel()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, config, metrics) in enumerate(runs):
        color = colors[i % len(colors)]
        steps = np.nanmean(metrics["timesteps"], axis=0)
        returns = metrics["episode_return"]
        mean, low, high = mean_and_band(returns)
        num_seeds = returns.shape[0]
        ax.plot(steps, mean, color=color, lw=1.6, label=f"{label} ({num_seeds} seeds)")
        if num_seeds > 1:
            ax.fill_between(steps, low, high, color=color, alpha=0.25, lw=0)
        for dax, (name, nice) in zip(diag_axes, DIAGNOSTICS):
            if name in metrics:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    dax.plot(steps, np.nanmean(metrics[name], axis=0), color=color, lw=1.1)
            dax.set_title(nice, fontsize=9)
    ax.set_xlabel("env steps (per agent)")
    ax.set_ylabel("episode return")
    ax.set_title(title or "episode return: mean over seeds, 95% CI")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    for dax in diag_axes:
        dax.grid(alpha=0.3)
        dax.tick_params(labelsize=8)
        dax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
        dax.ticklabel_format(axis="y", useOffset=False)
    for dax in diag_axes[-2:]:
        dax.set_xlabel("env steps (per agent)", fontsize=8)
    right.suptitle("training diagnostics (mean over seeds)", fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path


def default_label(run_dir: str, config: dict) -> str:
    name = os.path.basename(os.path.normpath(run_dir))
    env = config.get("env")
    return f"{name} [{env}]" if env and env.lower() not in name.lower() else name


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(
        description="Redraw learning curves from output folders of scripts/train.py "
                    "(several folders: overlaid in one figure).")
    parser.add_argument("runs", nargs="+", metavar="DIR", help="output folders of scripts/train.py")
    parser.add_argument("--out", default=None,
                        help="PNG to write (default: DIR/learning_curve.png for one run; required "
                             "for several)")
    parser.add_argument("--labels", nargs="+", default=None, help="legend labels, one per DIR")
    parser.add_argument("--title", default=None, help="title of the return panel")
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.runs):
        parser.error(f"--labels needs one label per run ({len(args.runs)}), got {len(args.labels)}")
    if args.out is None and len(args.runs) > 1:
        parser.error("--out is required when overlaying several runs")
    out = args.out or os.path.join(args.runs[0], "learning_curve.png")
    runs = []
    for i, run_dir in enumerate(args.runs):
        try:
            config, metrics = load_run(run_dir)
        except FileNotFoundError as err:
            parser.error(str(err))
        label = args.labels[i] if args.labels else default_label(run_dir, config)
        runs.append((label, config, metrics))
    plot_runs(runs, out, args.title)
    print(f"wrote {out}")
    return [out]


if __name__ == "__main__":
    main(sys.argv[1:])
