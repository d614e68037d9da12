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
