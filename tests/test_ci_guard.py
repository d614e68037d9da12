"""The CI guard in conftest.py: under CI=true a skipped test, or a module skipped at
collection, fails; elsewhere it skips."""

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
