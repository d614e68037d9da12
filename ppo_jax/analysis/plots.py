"""Learning-curve figures: a training run's (or several runs') returns and
diagnostics, and a sweep's returns per configuration.

`plot_runs` draws what `ppo-jax train` writes as learning_curve.png and what
`ppo-jax plot` redraws: left, episode return against env steps, the mean over
seeds with a 95% confidence band (Student t over seeds); right, training
diagnostics (policy and value loss, entropy, approximate KL, clip fraction,
explained variance), mean over seeds. `plot_sweep` draws a sweep's
learning_curves.png, one panel per configuration.

The figures are drawn on `matplotlib.figure.Figure` objects and saved to files:
no pyplot, so nothing here changes matplotlib's backend or global state.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np

DIAGNOSTICS = (
    ("policy_loss", "policy loss"),
    ("value_loss", "value loss"),
    ("entropy", "entropy"),
    ("approx_kl", "approx. KL"),
    ("clip_fraction", "clip fraction"),
    ("explained_variance", "explained variance"),
)


def load_run(run_dir: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(config dict, metrics: name -> float [num_seeds, num_updates]) of a `ppo-jax train` folder.

    Raises FileNotFoundError when the folder has no metrics.npz.
    """
    run_dir = os.fspath(run_dir)
    metrics_path = os.path.join(run_dir, "metrics.npz")
    if not os.path.exists(metrics_path):
        raise FileNotFoundError(
            f"{run_dir!r} has no metrics.npz: is it an output folder of `ppo-jax train`?")
    with np.load(metrics_path) as data:
        metrics = {k: np.asarray(data[k]) for k in data.files}
    config_path = os.path.join(run_dir, "config.json")
    config = {}
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
    return config, metrics


def mean_and_band(values: np.ndarray, confidence: float = 0.95):
    """values [num_seeds, T] (NaN = missing) -> mean, low, high over seeds, each [T].

    The band is mean +- t_{(1+confidence)/2, n-1} * std / sqrt(n), with n the
    seeds that have a value at that update. No band where n < 2, nor where fewer
    than half the seeds have a value: an update in which only 2 of 16 seeds end an
    episode would otherwise draw t(1) = 12.7 standard errors, a spike far outside
    every seed's returns.
    """
    from scipy import stats

    values = np.asarray(values, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(np.isfinite(values), axis=0)
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0, ddof=1)
        t = stats.t.ppf((1 + confidence) / 2, np.maximum(n - 1, 1))
        enough = (n >= 2) & (2 * n >= values.shape[0])
        half = np.where(enough, t * std / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, mean - half, mean + half


def default_label(run_dir: str | os.PathLike, config: dict) -> str:
    """The folder's name, with the env added when the name does not mention it."""
    name = os.path.basename(os.path.normpath(os.fspath(run_dir)))
    env = config.get("env")
    return f"{name} [{env}]" if env and env.lower() not in name.lower() else name


def plot_runs(runs: list[tuple[str, dict, dict]], out_path: str | os.PathLike,
              title: str | None = None, format: str | None = None) -> str:
    """Draws the two-panel figure for `runs` = [(label, config, metrics), ...] into out_path.

    `metrics`: name -> [num_seeds, num_updates] (`timesteps` and `episode_return`
    required; the diagnostics drawn where present). `format` (e.g. "png"): the
    image format, for a path whose extension does not name one (default: from the
    extension). Returns out_path.
    """
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 5.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1.0])
    ax = left.subplots()
    diag_axes = right.subplots(3, 2, sharex=True).ravel()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, _config, metrics) in enumerate(runs):
        color = colors[i % len(colors)]
        steps = np.nanmean(metrics["timesteps"], axis=0)
        returns = metrics["episode_return"]
        mean, low, high = mean_and_band(returns)
        num_seeds = returns.shape[0]
        ax.plot(steps, mean, color=color, lw=1.6, label=f"{label} ({num_seeds} seeds)")
        if num_seeds > 1:
            ax.fill_between(steps, low, high, color=color, alpha=0.25, lw=0)
        for dax, (name, nice) in zip(diag_axes, DIAGNOSTICS, strict=True):
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
    out_path = os.fspath(out_path)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=110, format=format)
    return out_path


def plot_sweep(result, path: str | os.PathLike) -> str:
    """One panel per configuration of a `SweepResult`: the mean episode return over seeds
    and its 95% bootstrap band, against env steps. Returns path."""
    from matplotlib.figure import Figure

    from ppo_jax.analysis.statistics import bootstrap_ci

    cols = min(4, result.num_configs)
    rows = math.ceil(result.num_configs / cols)
    # At least 5 x 3.4 inches: a single panel at 3.2 x 2.4 clipped the axis label.
    fig = Figure(figsize=(max(5.0, 3.2 * cols), max(3.4, 2.4 * rows)))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for i, (ax, cfg) in enumerate(zip(axes.flat, result.configs, strict=False)):
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
    path = os.fspath(path)
    fig.savefig(path, dpi=120)
    return path
