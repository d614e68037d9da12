"""ppo_jax: end-to-end accelerated PPO in JAX.

All of training (gymnax env stepping, GAE, minibatch PPO updates) is one pure
function that `jax.jit` compiles once and `jax.vmap` maps over seeds and
hyperparameters.

The public API is the names below. Module paths from before the subpackage
layout (`ppo_jax.statistics`, `ppo_jax.sweeps`, ...) still work and warn with
the new path (`ppo_jax._moved`).
"""

import importlib

from ppo_jax.util.lazy_modules import defer_plotting_modules

defer_plotting_modules()  # before anything imports gymnax: its plotting imports load on first use

from ppo_jax import loggers
from ppo_jax.checkpoint import CheckpointError, checkpoint_info, load, save
from ppo_jax.config import HParams, PPOConfig, available_envs, preset, preset_envs
from ppo_jax.core.types import TrainState
from ppo_jax.evaluate import (
    absolute_metric,
    best_state,
    evaluate,
    make_policy,
    make_value_fn,
)
from ppo_jax.networks import register_network
from ppo_jax.outputs import TrainOutput
from ppo_jax.pbt.result import PBTResult
from ppo_jax.pbt.run import pbt
from ppo_jax.population.result import SweepResult
from ppo_jax.population.search import random_search
from ppo_jax.population.sweep import sweep
from ppo_jax.runs import RunResult, load_run, resume_run, run_info, train_run
from ppo_jax.tracking.loggers import (
    JsonlLogger,
    TensorBoardLogger,
    WandbLogger,
    make_logger,
)
from ppo_jax.tracking.progress import ProgressBar, ProgressReport
from ppo_jax.train import Population, Trainer, make_population, make_train, make_trainer, train_seeds

__all__ = [
    "CheckpointError",
    "HParams",
    "JsonlLogger",
    "PBTResult",
    "PPOConfig",
    "Population",
    "ProgressBar",
    "ProgressReport",
    "RunResult",
    "SweepResult",
    "TensorBoardLogger",
    "TrainOutput",
    "TrainState",
    "Trainer",
    "WandbLogger",
    "absolute_metric",
    "available_envs",
    "best_state",
    "checkpoint_info",
    "evaluate",
    "load",
    "load_run",
    "loggers",
    "make_logger",
    "make_population",
    "make_policy",
    "make_train",
    "make_trainer",
    "make_value_fn",
    "pbt",
    "preset",
    "preset_envs",
    "random_search",
    "register_network",
    "resume_run",
    "run_info",
    "save",
    "sweep",
    "train_run",
    "train_seeds",
]

__version__ = "0.1.0"

# Module paths of the flat layout (before 0.2), reachable as attributes after a plain
# `import ppo_jax` as they were then (`ppo_jax.statistics.final_return`); each name in
# them warns with its new path.
_OLD_MODULES = (
    "batching", "context", "distributions", "exploit", "gae", "grids", "loss", "normalize",
    "pbt_result", "pbt_train", "progress", "results", "rollout", "search_space", "sharding",
    "statistics", "suites", "sweeps", "types", "update", "validation",
)


def __getattr__(name: str):
    if name in _OLD_MODULES:
        return importlib.import_module(f"ppo_jax.{name}")
    raise AttributeError(f"module 'ppo_jax' has no attribute {name!r}")
