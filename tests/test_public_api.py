"""The public API survives the subpackage layout (issue 27): every name in `ppo_jax.__all__`,
every module path of the flat layout (each name it had, served from its new module with a
DeprecationWarning that names the new path, as optax does), the paths the README documented,
and checkpoints saved before the move."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

import ppo_jax

DATA = Path(__file__).parent / "data" / "checkpoint_before_layout"

# (old module path, name, the module it lives in now): every public name of the flat layout
# (commit c26c73d) whose module changed.
MOVED = [
    ('ppo_jax.batching', 'FULL_RESET', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'NO_RESET', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'POOLED_RESET', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'ResetFn', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'any_member', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'max_member', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'reset_pool_size', 'ppo_jax.util.batching'),
    ('ppo_jax.batching', 'sparse_reset', 'ppo_jax.util.batching'),
    ('ppo_jax.config', 'ACTIVATIONS', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'HPARAM_FIELDS', 'ppo_jax.config.hparams'),
    ('ppo_jax.config', 'HParamValue', 'ppo_jax.config.hparams'),
    ('ppo_jax.config', 'HParams', 'ppo_jax.config.hparams'),
    ('ppo_jax.config', 'NETWORKS', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'OBJECTIVES', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'PPOConfig', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'STATIC_FIELDS', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'available_envs', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'check_eval_settings', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'check_sequence_settings', 'ppo_jax.config.config'),
    ('ppo_jax.config', 'preset', 'ppo_jax.config.presets'),
    ('ppo_jax.config', 'preset_envs', 'ppo_jax.config.presets'),
    ('ppo_jax.config', 'validate_hparams', 'ppo_jax.config.hparams'),
    ('ppo_jax.context', 'AgentContext', 'ppo_jax.core.context'),
    ('ppo_jax.context', 'check_agent_fits', 'ppo_jax.core.context'),
    ('ppo_jax.context', 'check_finite_agent', 'ppo_jax.core.context'),
    ('ppo_jax.context', 'describe_network', 'ppo_jax.core.context'),
    ('ppo_jax.context', 'make_context', 'ppo_jax.core.context'),
    ('ppo_jax.distributions', 'entropy', 'ppo_jax.core.distributions'),
    ('ppo_jax.distributions', 'kl_divergence', 'ppo_jax.core.distributions'),
    ('ppo_jax.distributions', 'log_prob', 'ppo_jax.core.distributions'),
    ('ppo_jax.distributions', 'log_prob_entropy_kl', 'ppo_jax.core.distributions'),
    ('ppo_jax.envs', 'Adapter', 'ppo_jax.envs.adapters'),
    ('ppo_jax.envs', 'Env', 'ppo_jax.envs.spec'),
    ('ppo_jax.envs', 'EnvSpec', 'ppo_jax.envs.spec'),
    ('ppo_jax.envs', 'EnvStep', 'ppo_jax.envs.spec'),
    ('ppo_jax.envs', 'GymnaxAdapter', 'ppo_jax.envs.adapters'),
    ('ppo_jax.envs', 'LogState', 'ppo_jax.envs.spec'),
    ('ppo_jax.envs', 'MASKED_ENVS', 'ppo_jax.envs.masked'),
    ('ppo_jax.envs', 'MaskedObservation', 'ppo_jax.envs.masked'),
    ('ppo_jax.envs', 'ProtocolAdapter', 'ppo_jax.envs.adapters'),
    ('ppo_jax.envs', 'StepResult', 'ppo_jax.envs.spec'),
    ('ppo_jax.envs', 'make_env', 'ppo_jax.envs.adapters'),
    ('ppo_jax.evaluate', 'DEFAULT_EPISODE_STEP_LIMIT', 'ppo_jax.core.rollout'),
    ('ppo_jax.evaluate', 'act_on_batch', 'ppo_jax.core.rollout'),
    ('ppo_jax.evaluate', 'episode_step_limit', 'ppo_jax.core.rollout'),
    ('ppo_jax.evaluate', 'play_episodes', 'ppo_jax.core.rollout'),
    ('ppo_jax.evaluate', 'select_action', 'ppo_jax.core.rollout'),
    ('ppo_jax.exploit', 'COPIED_FIELDS', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'ExploitSettings', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'KEPT_FIELDS', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'Range', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'choose_parents', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'copy_members', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'exploit_explore', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'explore', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'rank_order', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'sample_population', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.exploit', 'sample_range', 'ppo_jax.pbt.exploit'),
    ('ppo_jax.gae', 'compute_gae', 'ppo_jax.core.gae'),
    ('ppo_jax.grids', 'VALID_KEYS', 'ppo_jax.population.grids'),
    ('ppo_jax.grids', 'check_key', 'ppo_jax.population.grids'),
    ('ppo_jax.grids', 'check_value', 'ppo_jax.population.grids'),
    ('ppo_jax.grids', 'check_values', 'ppo_jax.population.grids'),
    ('ppo_jax.grids', 'configure', 'ppo_jax.population.grids'),
    ('ppo_jax.grids', 'expand_grid', 'ppo_jax.population.grids'),
    ('ppo_jax.loggers', 'Agents', 'ppo_jax.tracking.agents'),
    ('ppo_jax.loggers', 'BoundLogger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'EXTRA', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'JsonlLogger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'Logger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'LoggerArg', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'POPULATION_MODES', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'TRACKERS', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'TensorBoardLogger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'WandbLogger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'bind_logger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'config_hparams', 'ppo_jax.tracking.agents'),
    ('ppo_jax.loggers', 'make_logger', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'read_jsonl', 'ppo_jax.tracking.loggers'),
    ('ppo_jax.loggers', 'seed_agents', 'ppo_jax.tracking.agents'),
    ('ppo_jax.loggers', 'setting_name', 'ppo_jax.tracking.agents'),
    ('ppo_jax.loggers', 'sweep_agents', 'ppo_jax.tracking.agents'),
    ('ppo_jax.loss', 'LossOptions', 'ppo_jax.core.loss'),
    ('ppo_jax.loss', 'apply_dual_clip', 'ppo_jax.core.loss'),
    ('ppo_jax.loss', 'clipped_surrogate', 'ppo_jax.core.loss'),
    ('ppo_jax.loss', 'normalize_advantages', 'ppo_jax.core.loss'),
    ('ppo_jax.loss', 'ppo_loss', 'ppo_jax.core.loss'),
    ('ppo_jax.loss', 'surrogate_objective', 'ppo_jax.core.loss'),
    ('ppo_jax.loss', 'value_loss', 'ppo_jax.core.loss'),
    ('ppo_jax.networks', 'ActorCritic', 'ppo_jax.networks.feedforward'),
    ('ppo_jax.networks', 'BUILTIN_NETWORKS', 'ppo_jax.networks.registry'),
    ('ppo_jax.networks', 'CELLS', 'ppo_jax.networks.recurrent'),
    ('ppo_jax.networks', 'ConvTorso', 'ppo_jax.networks.feedforward'),
    ('ppo_jax.networks', 'GRU', 'ppo_jax.networks.recurrent'),
    ('ppo_jax.networks', 'LSTM', 'ppo_jax.networks.recurrent'),
    ('ppo_jax.networks', 'MLP', 'ppo_jax.networks.feedforward'),
    ('ppo_jax.networks', 'MLPLayers', 'ppo_jax.networks.feedforward'),
    ('ppo_jax.networks', 'NetworkEntry', 'ppo_jax.networks.registry'),
    ('ppo_jax.networks', 'OrthogonalKernel', 'ppo_jax.networks.init'),
    ('ppo_jax.networks', 'RecurrentActorCritic', 'ppo_jax.networks.recurrent'),
    ('ppo_jax.networks', 'block_orthogonal', 'ppo_jax.networks.recurrent'),
    ('ppo_jax.networks', 'draw_policy_noise', 'ppo_jax.core.distributions'),
    ('ppo_jax.networks', 'greedy_action', 'ppo_jax.core.distributions'),
    ('ppo_jax.networks', 'init_params', 'ppo_jax.networks.init'),
    ('ppo_jax.networks', 'is_recurrent', 'ppo_jax.networks.interface'),
    ('ppo_jax.networks', 'is_recurrent_network', 'ppo_jax.networks.registry'),
    ('ppo_jax.networks', 'layer_gains', 'ppo_jax.networks.init'),
    ('ppo_jax.networks', 'make_distribution', 'ppo_jax.core.distributions'),
    ('ppo_jax.networks', 'make_network', 'ppo_jax.networks.registry'),
    ('ppo_jax.networks', 'network_names', 'ppo_jax.networks.registry'),
    ('ppo_jax.networks', 'orthogonal', 'ppo_jax.networks.init'),
    ('ppo_jax.networks', 'orthogonal_kernel_init', 'ppo_jax.networks.init'),
    ('ppo_jax.networks', 'orthogonal_kernels', 'ppo_jax.networks.init'),
    ('ppo_jax.networks', 'register_network', 'ppo_jax.networks.registry'),
    ('ppo_jax.networks', 'reset_where', 'ppo_jax.networks.recurrent'),
    ('ppo_jax.networks', 'sample_from_noise', 'ppo_jax.core.distributions'),
    ('ppo_jax.normalize', 'EPS', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'OBS_CLIP', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'REWARD_CLIP', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'RewardScaler', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'RunningMeanStd', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'init_reward_scaler', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'init_running_stats', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'normalize', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'observe', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'scale_reward', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'update_reward_scaler', 'ppo_jax.core.normalize'),
    ('ppo_jax.normalize', 'update_running_stats', 'ppo_jax.core.normalize'),
    ('ppo_jax.pbt_result', 'FORMAT', 'ppo_jax.pbt.result'),
    ('ppo_jax.pbt_result', 'FORMAT_VERSION', 'ppo_jax.pbt.result'),
    ('ppo_jax.pbt_result', 'PBTBest', 'ppo_jax.pbt.result'),
    ('ppo_jax.pbt_result', 'PBTResult', 'ppo_jax.pbt.result'),
    ('ppo_jax.pbt_result', 'check_resume', 'ppo_jax.pbt.result'),
    ('ppo_jax.pbt_result', 'concat_history', 'ppo_jax.pbt.result'),
    ('ppo_jax.pbt_train', 'Fitness', 'ppo_jax.pbt.state'),
    ('ppo_jax.pbt_train', 'PBTPlan', 'ppo_jax.pbt.state'),
    ('ppo_jax.pbt_train', 'PBTState', 'ppo_jax.pbt.state'),
    ('ppo_jax.pbt_train', 'build_program', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'check_devices', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.pbt_train', 'check_fitness', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'check_ready_every', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'check_settings', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'fitness_name', 'ppo_jax.pbt.state'),
    ('ppo_jax.pbt_train', 'generation_step', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'init_run', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'mean_return', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'member_devices', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.pbt_train', 'member_sharding', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.pbt_train', 'parse_init_space', 'ppo_jax.pbt.space'),
    ('ppo_jax.pbt_train', 'parse_space', 'ppo_jax.pbt.space'),
    ('ppo_jax.pbt_train', 'pbt', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'pbt_agents', 'ppo_jax.tracking.agents'),
    ('ppo_jax.pbt_train', 'run_generations', 'ppo_jax.pbt.run'),
    ('ppo_jax.pbt_train', 'sharding_constraint', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.population', 'CACHE_SIZE', 'ppo_jax.parallel.compile'),
    ('ppo_jax.population', 'clear_cache', 'ppo_jax.parallel.compile'),
    ('ppo_jax.population', 'compile_population', 'ppo_jax.parallel.compile'),
    ('ppo_jax.progress', 'AUTO_REPORTS', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'Progress', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'ProgressBar', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'ProgressHook', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'ProgressReport', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'SUMMARY_SIZE', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'agent_summary', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'format_count', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'is_due', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'make_emitter', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'make_report', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'reduce_summaries', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'report_every', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'resolve_progress', 'ppo_jax.tracking.progress'),
    ('ppo_jax.progress', 'with_progress', 'ppo_jax.tracking.progress'),
    ('ppo_jax.results', 'SweepResult', 'ppo_jax.population.result'),
    ('ppo_jax.results', 'metric_order', 'ppo_jax.analysis.frames'),
    ('ppo_jax.results', 'tidy_metrics', 'ppo_jax.analysis.frames'),
    ('ppo_jax.results', 'update_numbers', 'ppo_jax.analysis.frames'),
    ('ppo_jax.rollout', 'EpisodeTally', 'ppo_jax.core.rollout'),
    ('ppo_jax.rollout', 'RolloutCarry', 'ppo_jax.core.rollout'),
    ('ppo_jax.rollout', 'RolloutNoise', 'ppo_jax.core.rollout'),
    ('ppo_jax.rollout', 'bootstrap_values', 'ppo_jax.core.rollout'),
    ('ppo_jax.rollout', 'collect_rollout', 'ppo_jax.core.rollout'),
    ('ppo_jax.rollout', 'draw_rollout_noise', 'ppo_jax.core.rollout'),
    ('ppo_jax.rollout', 'rollout_step', 'ppo_jax.core.rollout'),
    ('ppo_jax.search_space', 'random_search', 'ppo_jax.population.search'),
    ('ppo_jax.sharding', 'POPULATION_AXIS', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.sharding', 'population_rows', 'ppo_jax.population.sharded'),
    ('ppo_jax.sharding', 'population_sharding', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.sharding', 'run_population', 'ppo_jax.population.sharded'),
    ('ppo_jax.sharding', 'to_host', 'ppo_jax.parallel.mesh'),
    ('ppo_jax.statistics', 'DIVERGED_RETURN', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'FINAL_FRACTION', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'FINAL_RETURN_DEFINITION', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'bootstrap_ci', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'diverged_runs', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'final_return', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'final_window', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'interquartile_mean', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'normalized_score', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.statistics', 'stratified_bootstrap_ci', 'ppo_jax.analysis.statistics'),
    ('ppo_jax.suites', 'SUITES', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'Suite', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'check_options', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'check_suite_env', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'choice_option', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'make_suite_env', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'positive_int_option', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'split_env_id', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites', 'suite_env_ids', 'ppo_jax.envs.suites'),
    ('ppo_jax.suites.brax_env', 'BACKENDS', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.brax_env', 'BraxEnv', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.brax_env', 'BraxState', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.brax_env', 'DEFAULTS', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.brax_env', 'OPTIONS', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.brax_env', 'env_names', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.brax_env', 'make', 'ppo_jax.envs.suites.brax_env'),
    ('ppo_jax.suites.craftax_env', 'CraftaxEnv', 'ppo_jax.envs.suites.craftax_env'),
    ('ppo_jax.suites.craftax_env', 'ENV_IDS', 'ppo_jax.envs.suites.craftax_env'),
    ('ppo_jax.suites.craftax_env', 'NO_TIME_LIMIT', 'ppo_jax.envs.suites.craftax_env'),
    ('ppo_jax.suites.craftax_env', 'OPTIONS', 'ppo_jax.envs.suites.craftax_env'),
    ('ppo_jax.suites.craftax_env', 'env_names', 'ppo_jax.envs.suites.craftax_env'),
    ('ppo_jax.suites.craftax_env', 'make', 'ppo_jax.envs.suites.craftax_env'),
    ('ppo_jax.suites.navix_env', 'NavixEnv', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.suites.navix_env', 'OPTIONS', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.suites.navix_env', 'TERMINATION', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.suites.navix_env', 'TRANSITION', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.suites.navix_env', 'TRUNCATION', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.suites.navix_env', 'env_names', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.suites.navix_env', 'make', 'ppo_jax.envs.suites.navix_env'),
    ('ppo_jax.sweeps', 'sweep', 'ppo_jax.population.sweep'),
    ('ppo_jax.train', 'EVAL_KEY_TAG', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'KL_COEF_MIN', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'METRIC_NAMES', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'adapt_kl_coef', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'batch_apply_fn', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'episode_metrics', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'eval_key', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'evaluate_if_due', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'evaluation', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'explained_variance', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'init_best', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'init_memory', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'init_state', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'is_diverged', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'learning_rate_at', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'mean_batch_kl', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'next_state_values', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'ppo_iteration', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'recurrent_value', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'reshaped_batch', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'to_batch', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'to_sequences', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'track_best', 'ppo_jax.core.iteration'),
    ('ppo_jax.train', 'with_evaluation', 'ppo_jax.core.iteration'),
    ('ppo_jax.types', 'Batch', 'ppo_jax.core.types'),
    ('ppo_jax.types', 'BestAgent', 'ppo_jax.core.types'),
    ('ppo_jax.types', 'RecurrentState', 'ppo_jax.core.types'),
    ('ppo_jax.types', 'TrainOutput', 'ppo_jax.outputs'),
    ('ppo_jax.types', 'TrainState', 'ppo_jax.core.types'),
    ('ppo_jax.types', 'Transition', 'ppo_jax.core.types'),
    ('ppo_jax.types', 'describe_divergence', 'ppo_jax.outputs'),
    ('ppo_jax.types', 'describe_train_output', 'ppo_jax.outputs'),
    ('ppo_jax.update', 'EpochCarry', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'MinibatchCarry', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'UpdateSettings', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'epoch_step', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'init_optimizer_state', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'make_optimizer', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'minibatch_step', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'random_permutation', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'shuffle_into_minibatches', 'ppo_jax.core.update'),
    ('ppo_jax.update', 'update_policy', 'ppo_jax.core.update'),
    ('ppo_jax.validation', 'check_bool', 'ppo_jax.util.checks'),
    ('ppo_jax.validation', 'check_integer', 'ppo_jax.util.checks'),
    ('ppo_jax.validation', 'check_positive_int', 'ppo_jax.util.checks'),
    ('ppo_jax.validation', 'is_integer', 'ppo_jax.util.checks'),
    ('ppo_jax.validation', 'is_real', 'ppo_jax.util.checks'),
]

# Old module files that are now only shims (every name in them warns).
SHIMS = {
    "ppo_jax.batching", "ppo_jax.context", "ppo_jax.distributions", "ppo_jax.exploit", "ppo_jax.gae",
    "ppo_jax.grids", "ppo_jax.loss", "ppo_jax.normalize", "ppo_jax.pbt_result", "ppo_jax.pbt_train",
    "ppo_jax.progress", "ppo_jax.results", "ppo_jax.rollout", "ppo_jax.search_space",
    "ppo_jax.sharding", "ppo_jax.statistics", "ppo_jax.suites", "ppo_jax.sweeps", "ppo_jax.types",
    "ppo_jax.update", "ppo_jax.validation", "ppo_jax.suites.brax_env", "ppo_jax.suites.navix_env",
    "ppo_jax.suites.craftax_env", "ppo_jax.population",
}

# Paths the README of c26c73d showed users.
README_PATHS = [
    ("ppo_jax.statistics", "final_return"), ("ppo_jax.envs", "Env"), ("ppo_jax.envs", "EnvSpec"),
    ("ppo_jax.envs", "EnvStep"), ("ppo_jax.envs", "MaskedObservation"), ("ppo_jax.envs", "MASKED_ENVS"),
    ("ppo_jax.envs", "make_env"), ("ppo_jax.train", "KL_COEF_MIN"), ("ppo_jax.loggers", "read_jsonl"),
    ("ppo_jax.loggers", "bind_logger"), ("ppo_jax.loggers", "Logger"), ("ppo_jax.loggers", "TRACKERS"),
    ("ppo_jax.progress", "ProgressBar"), ("ppo_jax.batching", "sparse_reset"),
    ("ppo_jax.config", "HPARAM_FIELDS"), ("ppo_jax.config", "STATIC_FIELDS"),
    ("ppo_jax.suites.brax_env", "BACKENDS"), ("ppo_jax.suites.craftax_env", "CraftaxEnv"),
    ("ppo_jax.suites.navix_env", "env_names"),
]


def resolve(module: str, name: str):
    """(the object at module.name, the ppo_jax DeprecationWarnings that raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obj = getattr(importlib.import_module(module), name)
    return obj, [w for w in caught if issubclass(w.category, DeprecationWarning)
                 and "ppo_jax" in str(w.message)]


@pytest.mark.parametrize("name", ppo_jax.__all__)
def test_every_public_name_resolves_without_a_warning(name):
    obj, warned = resolve("ppo_jax", name)
    assert obj is not None and not warned


@pytest.mark.parametrize("old, name, new", MOVED, ids=[f"{o}.{n}" for o, n, _ in MOVED])
def test_every_old_path_serves_the_same_object(old, name, new):
    obj, warned = resolve(old, name)
    assert obj is getattr(importlib.import_module(new), name)
    if old in SHIMS:
        assert len(warned) == 1, f"{old}.{name} should warn once"
    for warning in warned:  # a warning always names where the name lives now
        assert f"{new}.{name}" in str(warning.message)


@pytest.mark.parametrize("module, name", README_PATHS, ids=[f"{m}.{n}" for m, n in README_PATHS])
def test_readme_paths_keep_working(module, name):
    obj, _ = resolve(module, name)
    assert obj is not None


def test_old_modules_are_attributes_after_a_plain_import():
    """`import ppo_jax; ppo_jax.statistics.final_return(...)` as the README showed, in a fresh process."""
    code = ("import warnings, ppo_jax\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    f = ppo_jax.statistics.final_return\n"
            "assert f is ppo_jax.analysis.statistics.final_return\n"
            "assert any('ppo_jax.analysis.statistics.final_return' in str(x.message) for x in w)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_name_on_an_old_path_is_an_attribute_error():
    with pytest.raises(AttributeError, match="ppo_jax.statistics.*no_such_name"):
        _ = importlib.import_module("ppo_jax.statistics").no_such_name


def test_the_moved_table_is_complete():
    """Each shim serves exactly the names this file lists for it (a name added to a shim is listed)."""
    listed = {}
    for old, name, _ in MOVED:
        listed.setdefault(old, set()).add(name)
    for shim in SHIMS - {"ppo_jax.suites.brax_env", "ppo_jax.suites.navix_env", "ppo_jax.suites.craftax_env"}:
        served = set(importlib.import_module(shim).__getattr__.moved)
        assert served == listed[shim], shim


def test_checkpoints_saved_before_the_move_load_and_act_the_same():
    expected = json.loads((DATA / "expected.json").read_text())
    config, state = ppo_jax.load(DATA / "mlp")
    assert config.hidden_sizes == (8,)
    np.testing.assert_array_equal(np.asarray(state.update_step), expected["mlp_update_step"])
    agent = jax.tree.map(lambda x: x[0], state)
    act = ppo_jax.make_policy(config, agent, deterministic=True)
    obs = np.asarray(expected["obs"], np.float32)
    np.testing.assert_array_equal(np.asarray(act(jax.random.key(0), obs)), expected["mlp_seed0_greedy_actions"])
    gru_config, gru_state = ppo_jax.load(DATA / "gru")
    assert gru_config.network == "gru"
    returns = ppo_jax.evaluate(gru_config, gru_state, jax.random.key(1), num_episodes=2)
    assert np.all(np.isfinite(np.asarray(returns)))
