"""The CI guard in conftest.py: under CI=true a skipped test, or a module skipped at
collection, fails; elsewhere it skips."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
SKIPPING = """
import pytest

def test_needs_something_missing():
    pytest.skip("extra not installed")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False
"""


@pytest.mark.parametrize("ci, failed, skipped", [("true", 1, 0), ("", 0, 1)], ids=["ci", "local"])
def test_skips_fail_only_under_ci(pytester, monkeypatch, ci, failed, skipped):
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(SKIPPING)
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:timeout")
    result.assert_outcomes(failed=failed, skipped=skipped, xfailed=1)
    if failed:
        result.stdout.fnmatch_lines(["*skipped under CI=true*extra not installed*"])


MODULE_SKIP = """
import pytest

pytest.importorskip("ppo_jax_no_such_module")

def test_never_collected():
    pass
"""


@pytest.mark.parametrize("ci", ["true", ""], ids=["ci", "local"])
def test_a_module_level_importorskip_fails_only_under_ci(pytester, monkeypatch, ci):
    """A missing module skips the whole file at collection, before any test runs: beside
    a passing file, the run is green locally and fails (a collection error) under CI."""
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_needs_extra=MODULE_SKIP, test_fine="def test_fine():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist", "-p", "no:timeout")
    if ci:
        result.assert_outcomes(errors=1)
        assert result.ret != 0
        result.stdout.fnmatch_lines(["*skipped under CI=true*ppo_jax_no_such_module*"])
    else:
        result.assert_outcomes(passed=1, skipped=1)
        assert result.ret == 0


# ------------------------------------------------------------- the slow tier's lists ---


def _test_functions(path: Path) -> set[str]:
    import ast
    return {node.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_slow_tier_entry_names_an_existing_test():
    """A misspelt entry would silently leave a slow test in the quick tier."""
    import conftest
    tests_dir = Path(__file__).parent
    for name in [*conftest.SLOW_FILES, *conftest.SLOW_PARAMS, *conftest.SLOW_TESTS]:
        assert (tests_dir / name).is_file(), name
    for file_name, names in conftest.SLOW_TESTS.items():
        defined = _test_functions(tests_dir / file_name)
        for name in names:
            assert name.split("[")[0] in defined, f"{file_name}: no test {name.split('[')[0]}"


@pytest.mark.parametrize("file_name, test_name, slow", [
    ("test_learning.py", "test_cartpole", True),
    ("test_pbt.py", "test_four_devices_equal_one", True),
    ("test_pbt.py", "test_exploit_replaces_bottom_copies_state_and_explores_in_bounds[0.0-gru]", True),
    ("test_pbt.py", "test_exploit_replaces_bottom_copies_state_and_explores_in_bounds[0.25-gru]", False),
    ("test_env_protocol.py", "test_shapes_and_dtypes[craftax]", True),
    ("test_env_protocol.py", "test_shapes_and_dtypes[navix]", False),
    ("test_env_protocol.py", "test_one_update_trains_in_every_suite[suite=craftax]", False),
    ("test_gae.py", "test_gae_matches_numpy_loop", False),
])
def test_is_slow_reads_files_parametrizations_and_names(file_name, test_name, slow):
    import conftest
    assert conftest.is_slow(file_name, test_name) is slow


def test_best_window_return_is_the_best_nan_mean_of_consecutive_updates():
    """The learning tests' "reaches": worked by hand, windows of 2 updates. Run 0: [1, NaN]
    -> 1, [NaN, 3] -> 3, [3, 4] -> 3.5. Run 1: [NaN, NaN] has no episode and is left out,
    [NaN, 2] -> 2, [2, 8] -> 5."""
    import conftest
    import numpy as np
    returns = np.array([[1.0, np.nan, 3.0, 4.0], [np.nan, np.nan, 2.0, 8.0]])
    np.testing.assert_array_equal(conftest.best_window_return(returns, window=2), [3.5, 5.0])
    np.testing.assert_array_equal(conftest.best_window_return(returns[None], window=2), [[3.5, 5.0]])
    assert conftest.best_window_return(returns[0], window=4) == 8.0 / 3


# ------------------------------------------------- compile settings of learning tests ---


def test_every_learning_entry_names_an_existing_test():
    import conftest
    tests_dir = Path(__file__).parent
    for name in [*conftest.LEARNING_FILES, *conftest.LEARNING_TESTS]:
        assert (tests_dir / name).is_file(), name
    for file_name, names in conftest.LEARNING_TESTS.items():
        defined = _test_functions(tests_dir / file_name)
        for name in names:
            assert name in defined, f"{file_name}: no test {name}"


@pytest.mark.parametrize("file_name, test_name, learning", [
    ("test_suites_learning.py", "test_brax_inverted_pendulum_balances_on_every_seed", True),
    ("test_objectives.py", "test_cartpole_learns_with_kl_objectives[kl_penalty]", True),
    ("test_objectives.py", "test_early_stop_skips_every_minibatch_after_the_first", False),
    ("test_recurrent.py", "test_recurrent_policy_is_stateful", False),
])
def test_is_learning_reads_files_and_names(file_name, test_name, learning):
    import conftest
    assert conftest.is_learning(file_name, test_name) is learning


OPTIMIZED_PROGRAM = """
import contextlib, hashlib, sys
import jax, jax.numpy as jnp

def program(x):  # a loop with reductions: the fast settings change its optimized HLO
    def body(carry, _):
        carry = jnp.tanh(carry @ x) + jax.nn.softmax(carry, axis=-1)
        return carry, carry.sum()
    carry, sums = jax.lax.scan(body, x, None, length=5)
    return carry.mean(0), sums

settings = contextlib.nullcontext()
if sys.argv[1] == "restored":
    sys.path.insert(0, {tests!r})
    import conftest
    settings = conftest.learning_compile_settings()
with settings:  # one call site: the program's source locations are part of its text
    text = jax.jit(program).lower(jnp.ones((16, 16))).compile().as_text()
print(hashlib.sha256(text.encode()).hexdigest())
"""


def test_learning_tests_compile_what_a_process_without_the_fast_flags_compiles():
    """Under the session's fast flags, learning_compile_settings() gives the optimized
    program (HLO) a process without them gives."""
    import subprocess
    import sys

    import conftest
    script = OPTIMIZED_PROGRAM.format(tests=str(Path(__file__).parent))

    def digest(mode: str, flags: str) -> str:
        env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
        proc = subprocess.run([sys.executable, "-c", script, mode], env=env, capture_output=True, text=True,
                              timeout=300, check=True)
        return proc.stdout.strip()

    plain = digest("plain", "")
    assert digest("restored", conftest.FAST_COMPILE_FLAGS) == plain
    # the fast flags do change the program, so the equality above means something
    assert digest("plain", conftest.FAST_COMPILE_FLAGS) != plain


# ------------------------------------------------------ scheduling units over workers ---


@pytest.mark.parametrize("node_id, unit", [
    ("tests/test_pbt.py::test_four_devices_equal_one", "test_pbt.py"),
    ("tests/test_pbt.py::test_exploit[0.0-gru]", "test_pbt.py"),
    ("tests/test_docs.py::test_page_code_runs[docs/guides/cli.md]",
     "test_docs.py::test_page_code_runs[docs/guides/cli.md]"),
    ("tests/test_docs.py::test_site_builds_strictly", "test_docs.py"),
    ("tests/test_suites_learning.py::test_craftax_classic_beats_a_random_policy_clearly",
     "test_suites_learning.py::test_craftax_classic_beats_a_random_policy_clearly"),
])
def test_a_file_is_one_unit_except_the_long_independent_tests(node_id, unit):
    import xdist_units
    assert xdist_units.unit_of_node_id(node_id) == unit


RECORD_WORKER = """
import os

import pytest

@pytest.mark.parametrize("i", range(4))
def {name}(i):
    with open(os.environ["WORKER_LOG"], "a") as log:
        log.write(f"{{__name__}} {{os.environ['PYTEST_XDIST_WORKER']}}\\n")
"""


def test_files_run_whole_on_one_worker_and_docs_pages_spread(pytester, monkeypatch):
    """A file's tests all run on one worker (its module fixtures built once), while
    the docs pages, each its own unit, go to both workers. (With pytest 9.2, xdist
    3.8's `--dist loadgroup`, used here before, sent every test on its own.)"""
    log = pytester.path / "workers.log"
    monkeypatch.setenv("WORKER_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    pytester.makeconftest("from xdist_units import pytest_xdist_make_scheduler  # noqa: F401\n")
    pytester.makepyfile(test_docs=RECORD_WORKER.format(name="test_page_code_runs"),
                        test_first=RECORD_WORKER.format(name="test_record"),
                        test_second=RECORD_WORKER.format(name="test_record"))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadscope", "--no-loadscope-reorder",
                                           "-p", "no:cacheprovider", "-p", "no:timeout")
    result.assert_outcomes(passed=12)
    workers: dict[str, set[str]] = {}
    for line in log.read_text().splitlines():
        module, worker = line.split()
        workers.setdefault(module, set()).add(worker)
    assert len(workers["test_first"]) == len(workers["test_second"]) == 1, workers
    # the first four units are the pages; each worker starts with two of them
    assert len(workers["test_docs"]) == 2, workers
