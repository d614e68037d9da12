"""ppo_jax: end-to-end accelerated PPO in JAX.

All of training (gymnax env stepping, GAE, minibatch PPO updates) is one pure
function that `jax.jit` compiles once and `jax.vmap` maps over seeds and
hyperparameters.
"""

from ppo_jax.checkpoint import CheckpointError, checkpoint_info, load, save
from ppo_jax.config import HParams, PPOConfig, available_envs, preset, preset_envs
from ppo_jax import loggers
from ppo_jax.evaluate import absolute_metric, best_state, evaluate, make_policy, make_value_fn
from ppo_jax.loggers import JsonlLogger, TensorBoardLogger, WandbLogger, make_logger
from ppo_jax.networks import register_network
from ppo_jax.pbt_result import PBTResult
from ppo_jax.pbt_train import pbt
from ppo_jax.progress import ProgressBar, ProgressReport
from ppo_jax.results import SweepResult
from ppo_jax.search_space import random_search
from ppo_jax.sweeps import sweep
from ppo_jax.train import Trainer, make_train, make_trainer, train_seeds
from ppo_jax.types import TrainOutput, TrainState

__all__ = [
    "CheckpointError",
    "HParams",
    "JsonlLogger",
    "PBTResult",
    "PPOConfig",
    "ProgressBar",
    "ProgressReport",
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
    "loggers",
    "make_logger",
    "make_policy",
    "make_train",
    "make_trainer",
    "make_value_fn",
    "pbt",
    "preset",
    "preset_envs",
    "random_search",
    "register_network",
    "save",
    "sweep",
    "train_seeds",
]

__version__ = "0.1.0"
