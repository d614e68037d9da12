"""Shared fixtures: tiny configs, a fast-compiling jit for smoke-sized runs, and
the scripts in scripts/ loaded as modules (the command line itself is ppo_jax.cli).

Nothing here is autouse: it only provides fixtures that tests ask for by name.
Hooks: the longest files are collected first (LONGEST_FIRST) and xdist hands out
whole files as units (`pytest_xdist_make_scheduler`); and under
CI (the `CI` environment variable set to true, as `.ci/run` does), a skipped
test fails, so that a missing extra or file can never turn into a silently
green run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Tests compile with XLA:CPU's fast settings (the older code generator at backend
# optimization level 0): most tests compile far longer than they run, and these settings
# compile 2-3x faster (the quick tier took 239 s without them, 108 s with them, on 2
# cores). The learning tests are the exception: they run long programs, which ran 2-3x
# slower at level 0, so each test marked `learning` compiles the optimized HLO a user's
# run compiles (`learning_compile_settings` below). Set in
# the environment before JAX starts its backend, so xdist workers and the subprocesses
# tests start inherit it; not on machines with an NVIDIA GPU, where the flags would not
# apply.
import xdist_units  # noqa: E402  (jax-free)
from docs_blocks import FAST_COMPILE, FAST_COMPILE_FLAGS  # noqa: E402  (jax-free: before JAX starts)

# The learning tests' settings of what FAST_COMPILE changes: XLA's default fusion
# emitters, so the optimized HLO is the one a process without the flags compiles
# (checked by tests/test_ci_guard.py), and LLVM's code generation at level 1 instead of
# XLA's default 3, which only changes how that HLO becomes machine code: it compiled
# 40% faster, and the Craftax learning test's final returns were identical to level 3's
# (16 s against 28 s of compile, 47 s against 54 s of run; 2 cores).
LEARNING_COMPILE = {"xla_cpu_use_fusion_emitters": True, "xla_backend_optimization_level": 1}

if shutil.which("nvidia-smi") is None and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_FLAGS}".strip()

# One persistent XLA compilation cache for the session, shared by both xdist workers and
# every process a test starts (the environment is inherited): the suite compiles many
# identical programs in different tests and processes (a CLI run and its resume, the
# two processes of a distributed run, a run killed and resumed). Only programs that took
# at least a second to compile are written (writing the thousands of small eager-op
# programs cost more than the hits saved); a size limit turns on JAX's file lock, so
# concurrent processes read and write entries safely. Measured on 10 subprocess-heavy
# files (218 tests, 2 cores): 264 s against 299 s without it (two runs each). A cache
# set by the user is kept; the session's own is removed at its end (pytest_unconfigure).
_SESSION_CACHE_DIR = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # not set by the user or by the controller process
    _SESSION_CACHE_DIR = tempfile.mkdtemp(prefix="ppo_jax_test_xla_cache_")
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_SESSION_CACHE_DIR,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="1.0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
                      JAX_COMPILATION_CACHE_MAX_SIZE=str(8 * 2**30))

import jax  # noqa: E402  (after XLA_FLAGS)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ppo_jax  # noqa: E402
from ppo_jax.tracking.progress import ProgressReport  # noqa: E402

# The tests compare float32 maths against references at float32 tolerances. On
# NVIDIA GPUs JAX's default precision runs float32 matrix products in TF32 (10
# mantissa bits), which moved a GRU's outputs by 4e-4 from flax's cell on an H200;
# full float32 makes a GPU run check what a CPU run checks. Set on GPUs only, so
# that CPU runs (CI) compile exactly the programs users run.
if jax.default_backend() == "gpu":
    jax.config.update("jax_default_matmul_precision", "highest")


class RecordingHook:
    """A progress hook that keeps every report: `hook.reports`."""

    def __init__(self, every: int = 1):
        self.every = every
        self.reports: list[ProgressReport] = []

    def __call__(self, report: ProgressReport) -> None:
        self.reports.append(report)


def tiny_config(
    env: str = "CartPole-v1",
    *,
    num_updates: int = 2,
    num_envs: int = 2,
    num_steps: int = 8,
    num_minibatches: int = 2,
    update_epochs: int = 1,
    hidden_sizes: tuple[int, ...] = (16,),
    **overrides,
) -> ppo_jax.PPOConfig:
    """A PPOConfig of exactly `num_updates` updates of num_envs x num_steps."""
    return ppo_jax.PPOConfig(
        env=env,
        total_timesteps=num_updates * num_envs * num_steps,
        num_envs=num_envs,
        num_steps=num_steps,
        num_minibatches=num_minibatches,
        update_epochs=update_epochs,
        hidden_sizes=hidden_sizes,
        **overrides,
    )


def best_window_return(episode_return, window: int = 10):
    """Per run: the highest mean episode return over `window` updates in a row,
    [..., num_updates] -> [...] (NaN, an update in which no episode ended, is left out of
    its window's mean). What a learning test asks when it says a run "reaches" a return."""
    returns = np.asarray(episode_return)
    flat = returns.reshape(-1, returns.shape[-1])
    best = [max(np.nanmean(r[i:i + window]) for i in range(len(r) - window + 1)
                if np.isfinite(r[i:i + window]).any()) for r in flat]
    return np.asarray(best).reshape(returns.shape[:-1])


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and running_in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


# --- CI guard, collection: a module skipped while it is collected -------------------
# A module-level `pytest.importorskip` (or `pytest.skip(allow_module_level=True)`)
# skips the whole file at collection, where pytest_runtest_makereport never runs:
# under CI that skipped collect report becomes a collection error.
@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and running_in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"
# --- end of the collection guard ------------------------------------------------------


def needs(package: str):
    """A module's `pytestmark` for tests that need an optional `package` (an extra): they
    skip without it, and fail under CI like any skip. Unlike a module-level
    `pytest.importorskip`, it does not import the package while every worker collects the
    suite (mujoco_playground and jumanji took 3.3 s of each worker's start)."""
    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"needs {package} (pip install -e '.[suites]')")


# The files with the longest tests, longest first. Each worker takes the next unit
# (`xdist_unit` below) in collection order, so putting these first keeps one long unit
# from running alone at the end (longest-first scheduling).
LONGEST_FIRST = ("test_suites_learning.py", "test_playground_learning.py", "test_jumanji_learning.py",
                 "test_xminigrid_learning.py", "test_docs.py", "test_recurrent_learning.py", "test_learning.py",
                 "test_pbt.py", "test_recurrent.py", "test_env_protocol.py", "test_eval_training.py",
                 "test_notebook.py", "test_divergence.py", "test_sweep.py", "test_objectives.py",
                 "test_presets.py")


# --- The two tiers: `pytest -m "not slow"` (the quick loop, under 4 minutes on 2 cores)
# and `pytest` (everything; CI). `slow` holds what trains or builds for long: whole
# files below, the heavy parametrizations of a file (a substring of the test's id),
# and single tests that each take several seconds on 2 cores (measured with
# --durations; a name without [...] covers all its parametrizations). A test may also
# carry @pytest.mark.slow itself. The quick tier keeps every module's unit tests,
# the numerical references, the probes and a one-update run of every env suite
# (test_env_protocol.py::test_one_update_trains_in_every_suite).
SLOW_FILES = {
    "test_learning.py", "test_suites_learning.py", "test_recurrent_learning.py", "test_pbt_learning.py",
    "test_playground_learning.py", "test_jumanji_learning.py", "test_xminigrid_learning.py",
    "test_protocol_learning.py",  # the probe envs of masks, multi-discrete, dict obs, privileged critic
    "test_notebook.py",     # executes the quickstart notebook
    "test_presets.py",      # a one-update run of every preset: the preset smoke matrix
    "test_scripts_help.py",  # every script's --help in a fresh process
    "test_distributed.py",   # several processes through jax.distributed
}
SLOW_PARAMS = {
    # Brax and Craftax compile for tens of seconds: their conformance cases (one compile
    # per module-scoped case) are slow; gymnax, the protocol env and Navix stay quick.
    "test_env_protocol.py": ("[brax", "[craftax", "[playground", "test_craftax_", "test_brax_renders"),
    # the docs pages' code and the site build; the runner's own tests stay quick
    "test_docs.py": ("test_page_code_runs", "test_site_builds_strictly"),
}
SLOW_TESTS = {
    "test_data_parallel.py": ("test_four_devices_equal_one", "test_members_by_groups_mesh_equals_one_device",
                              "test_groups_change_only_the_minibatch_composition",
                              "test_checkpoint_resume_and_evaluation_work_unchanged_on_four_devices"),
    "test_benchmark_script.py": ("test_in_process_run_writes_results_summary_and_plot",
                                 "test_one_seed_is_plain_jit_and_a_population_is_train_seeds_program",
                                 "test_suites_benchmark_records_env_steps_and_training",
                                 "test_worker_failure_becomes_an_error_record"),
    "test_checkpoint.py": ("test_process_killed_mid_save_leaves_previous_checkpoint",
                           "test_round_trip_gives_identical_actions_and_evaluation"),
    "test_cli.py": ("test_train_overwrite_replaces_the_previous_run",
                    "test_metrics_csv_is_the_train_output_frame",
                    "test_train_runs_a_suite_env_with_its_options",
                    "test_train_overwrite_and_resume_together_are_refused"),
    "test_ci_guard.py": ("test_learning_tests_compile_what_a_process_without_the_fast_flags_compiles",),
    "test_cli_entry.py": ("test_every_subcommand_has_help",
                          "test_python_dash_m_lists_the_subcommands",
                          "test_an_unknown_subcommand_exits_2_with_the_choices",
                          "test_env_is_checked_importing_only_the_suite_it_names"),
    "test_cli_runs.py": ("test_help_lists_every_field_with_default",
                         "test_output_folder_has_every_file",
                         "test_evaluate_reports_and_draws",
                         "test_resume_with_a_larger_budget_extends_the_run",
                         "test_evaluate_draws_suite_envs_with_their_render",
                         "test_stopped_run_saved_its_progress",
                         "test_resumed_run_equals_uninterrupted",
                         "test_resume_refuses_changed_settings",
                         "test_plot_overlays_runs"),
    "test_cnn.py": ("test_cnn_trains_saves_loads_and_evaluates",),
    "test_divergence.py": ("test_training_flags_divergence_per_update",
                           "test_a_sweep_ranks_an_absurd_learning_rate_last",
                           "test_progress_reports_count_diverged_agents_and_the_bar_says_so",
                           "test_a_diverged_run_still_reports_finite_returns_which_is_why_the_flag_exists",
                           "test_train_output_repr_says_which_agents_diverged"),
    "test_docstrings.py": ("test_docstring_examples_run[ppo_jax.pbt.run]",
                           "test_docstring_examples_run[ppo_jax.population.sweep]",
                           "test_docstring_examples_run[ppo_jax.train]"),
    "test_envs.py": ("test_env_trains_two_updates",),
    "test_eval_training.py": ("test_evaluation_plays_the_updated_policy_with_the_states_statistics",
                              "test_vmapped_seeds_evaluate_independently",
                              "test_sweep_cells_carry_evaluation_like_train_seeds",
                              "test_best_policy_survives_a_checkpoint_and_old_checkpoints_still_load",
                              "test_progress_bar_shows_the_last_eval_return"),
    "test_docs.py": ("test_a_failing_block_fails_its_page_and_budgets_are_clamped",),
    "test_evaluate.py": ("test_trained_cartpole_evaluation_is_consistent_with_training",),
    "test_lazy_modules.py": ("test_importing_ppo_jax_defers_gymnax_plotting_and_rendering_still_works",),
    "test_loggers.py": ("test_jsonl_round_trip",
                        "test_tensorboard_events_equal_the_metrics",
                        "test_wandb_offline_history_equals_the_metrics",
                        "test_sweep_curves_are_named_after_swept_values_and_reduce_per_configuration",
                        "test_trackers_update_while_training_runs"),
    "test_objectives.py": ("test_adaptive_beta_follows_the_rule_from_the_kl_after_each_update",
                           "test_early_stop_skips_every_minibatch_after_the_first"),
    "test_pbt.py": ("test_exploit_replaces_bottom_copies_state_and_explores_in_bounds[0.0-mlp]",
                    "test_exploit_replaces_bottom_copies_state_and_explores_in_bounds[0.0-gru]",
                    "test_result_shapes_and_recorded_lineage",
                    "test_no_copying_equals_a_sweep_of_the_same_members",
                    "test_resume_equals_an_uninterrupted_run",
                    "test_four_devices_equal_one",
                    "test_cli_writes_outputs_refuses_a_used_folder_and_resumes",
                    "test_logger_gets_one_curve_per_member_equal_to_the_metrics",
                    "test_copied_member_keeps_the_parents_schedule_position",
                    "test_one_compile_for_the_whole_run_and_none_again",
                    "test_progress_reports_every_update_for_the_whole_population"),
    "test_playground_env.py": ("test_dm_control_cartpole_runs_on_mjx_and_truncates_at_its_limit",),
    "test_progress.py": ("test_train_reports_every_update_with_population_totals",
                         "test_second_call_reports_again"),
    "test_public_api.py": ("test_old_modules_are_attributes_after_a_plain_import",
                           "test_checkpoints_saved_before_the_move_load_and_act_the_same"),
    "test_recurrent.py": ("test_carry_resets_exactly_at_episode_starts",
                          "test_truncated_steps_bootstrap_from_the_unreset_carry",
                          "test_recurrent_vmapped_seed_equals_single_run",
                          "test_recurrent_chunked_and_checkpointed_run_equals_whole_run",
                          "test_recurrent_sweep_over_the_hidden_size",
                          "test_recurrent_cli_trains_saves_and_records_an_episode",
                          "test_recurrent_pbt_keeps_each_members_memory",
                          "test_update_replays_the_rollout_from_stored_carries",
                          "test_recurrent_policy_is_stateful",
                          "test_recurrent_trains_with_every_objective",
                          "test_a_recurrent_agent_with_another_cell_size_is_refused_by_name",
                          "test_register_network_feed_forward_and_recurrent"),
    "test_reproducibility.py": ("test_same_key_two_compiles_bit_for_bit",
                                "test_legacy_uint32_key_equals_typed_key_bit_for_bit"),
    "test_returns_table.py": ("test_a_row_end_to_end_at_a_tiny_budget",),
    "test_rollout.py": ("test_training_reports_the_episodes_of_each_update",),
    "test_runs.py": ("test_a_run_killed_by_sigkill_resumes_to_the_uninterrupted_one",
                     "test_cli_sigterm_exits_3_and_resumes_to_the_uninterrupted_run",
                     "test_a_signal_stops_after_the_chunk_and_the_handlers_come_back",
                     "test_run_folder_holds_every_file_and_the_last_k_checkpoints",
                     "test_unaligned_stop_realigns_its_chunks",
                     "test_resume_run_extends_with_a_larger_budget",
                     "test_devices_are_passed_to_make_population"),
    "test_sweep.py": ("test_grid_cells_equal_single_runs",
                      "test_static_field_grid_groups_compiles",
                      "test_concurrent_sweeps_each_count_their_own_compiles",
                      "test_sharded_over_four_devices_equals_single_device",
                      "test_learning_rate_is_traced",
                      "test_hparam_grid_compiles_once_and_never_again"),
    "test_tracking_cli.py": ("test_train_tracks_every_seed_with_evaluation",
                             "test_sweep_tracks_curves_named_after_swept_values"),
    "test_train.py": ("test_vmapped_seed_i_equals_single_run_of_seed_i",
                      "test_trainer_run_is_jitted_with_the_count_static",
                      "test_extending_a_run_anneals_over_the_new_budget",
                      "test_make_population_pieces_equal_train_seeds",
                      "test_train_seeds_does_not_recompile",
                      "test_run_n_then_m_equals_run_n_plus_m",
                      "test_legacy_uint32_prng_keys_train_like_typed_keys"),
    "test_xminigrid_env.py": ("test_resetting_only_the_ended_envs_equals_resetting_every_env",
                              "test_one_update_trains_a_cnn_on_the_view"),
}


# --- Learning tests compile with LEARNING_COMPILE -------------------------------------
# Marked `learning` here by file or name (or with @pytest.mark.learning): they train
# long enough for run time to outweigh compile time, and they check that what a user
# compiles learns. Every other test compiles with FAST_COMPILE (top of this file).
LEARNING_FILES = {"test_learning.py", "test_suites_learning.py", "test_recurrent_learning.py",
                  "test_pbt_learning.py", "test_playground_learning.py", "test_jumanji_learning.py",
                  "test_xminigrid_learning.py", "test_protocol_learning.py"}
LEARNING_TESTS = {"test_objectives.py": ("test_cartpole_learns_with_kl_objectives",)}


def is_learning(file_name: str, test_name: str) -> bool:
    """Whether `test_name` of `file_name` is a learning test (compiled with LEARNING_COMPILE)."""
    return file_name in LEARNING_FILES or any(
        test_name == name or test_name.startswith(name + "[") for name in LEARNING_TESTS.get(file_name, ()))


@contextlib.contextmanager
def learning_compile_settings():
    """Every XLA compile inside uses LEARNING_COMPILE (as per-compile options, which take
    precedence over XLA_FLAGS); options a jit names itself still win. A no-op where the
    session does not use the fast settings."""
    if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", "") or jax.default_backend() != "cpu":
        yield
        return
    from jax._src import compiler  # JAX's compile-options builder, the one place every jit passes

    plain = compiler.get_compile_options
    if "env_options_overrides" not in inspect.signature(plain).parameters:
        raise RuntimeError("jax._src.compiler.get_compile_options no longer takes env_options_overrides: "
                           "update learning_compile_settings in tests/conftest.py")

    def with_defaults(*args, env_options_overrides=None, **kwargs):
        overrides = {**LEARNING_COMPILE, **(env_options_overrides or {})}
        return plain(*args, env_options_overrides=overrides, **kwargs)

    compiler.get_compile_options = with_defaults
    try:
        yield
    finally:
        compiler.get_compile_options = plain


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Setup, call and teardown of a `learning` test compile with LEARNING_COMPILE."""
    if item.get_closest_marker("learning") is None:
        yield
        return
    with learning_compile_settings():
        yield


def is_slow(file_name: str, test_name: str) -> bool:
    """Whether the test `test_name` (with its [parametrization]) of `file_name` is in the slow tier."""
    if file_name in SLOW_FILES or any(part in test_name for part in SLOW_PARAMS.get(file_name, ())):
        return True
    return any(test_name == name or ("[" not in name and test_name.startswith(name + "["))
               for name in SLOW_TESTS.get(file_name, ()))


# --- Which worker runs what: tests/xdist_units.py (whole files as units, longest first)
pytest_xdist_make_scheduler = xdist_units.pytest_xdist_make_scheduler


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_slow(item.path.name, item.name):
            item.add_marker(pytest.mark.slow)
        if is_learning(item.path.name, item.name):
            item.add_marker(pytest.mark.learning)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


def pytest_unconfigure(config):
    if _SESSION_CACHE_DIR is not None:  # the process that made it: xdist's controller, or the only one
        shutil.rmtree(_SESSION_CACHE_DIR, ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "minatar: smoke runs on MinAtar envs, the slowest to compile (CI runs them; "
        "-m 'not minatar' skips them locally)",
    )


@pytest.fixture(scope="session")
def make_tiny_config():
    """Factory fixture: make_tiny_config(env=..., num_updates=..., **PPOConfig fields)."""
    return tiny_config


def jit_fast(fn, **jit_kwargs):
    """`jax.jit` with FAST_COMPILE on the CPU backend (plain `jax.jit` elsewhere):
    for programs that compile much longer than they run."""
    options = FAST_COMPILE if jax.default_backend() == "cpu" else None
    return jax.jit(fn, compiler_options=options, **jit_kwargs)


@pytest.fixture
def fast_jit():
    """The `jit_fast` function, as a fixture."""
    return jit_fast


SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load_script(name: str):
    """scripts/<name>.py as a fresh module (not installed, so loaded from its file)."""
    spec = importlib.util.spec_from_file_location(f"ppo_jax_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.fixture(scope="session")
def load_script():
    """load_script(name) -> scripts/<name>.py as a module."""
    return _load_script


class CompileCounter:
    """Counts XLA backend compiles (of anything) while active, from jax's monitoring events."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs) -> None:
        self.count += event == self.EVENT

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def run_on_four_cpu_devices(script: str) -> dict:
    """Runs `script` in a fresh Python with 4 forced CPU devices; its last stdout line, as JSON.

    Device count is fixed when jax starts, so multi-device checks need their own process."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = {**os.environ, "XLA_FLAGS": flags,
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
