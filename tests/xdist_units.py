"""Which xdist worker runs what: whole files as scheduling units (jax-free).

A file's tests run on one worker, in order, so its module-scoped fixtures are built
once. The exceptions (OWN_UNIT) are long tests that share nothing: each is its own
unit, so that the docs pages (each a fresh process) and the suites' learning runs
spread over both workers instead of one worker running a 500-second file while the
other waits. Units go out in collection order (conftest.py collects the longest
files first), each to the next worker with little work left.

The units reach xdist through its `pytest_xdist_make_scheduler` hook (conftest.py
exports the one below; pyproject runs `-n 2 --dist loadscope --no-loadscope-reorder`).
xdist's own `--dist loadgroup` is not used: it passes groups by rewriting node ids,
which pytest 9.2 no longer reads (pytest-xdist#1386), so every file silently ran
split over both workers and built its module fixtures twice.
tests/test_ci_guard.py runs a small session to check that files stay whole.
"""

from __future__ import annotations

from pathlib import PurePath

import pytest

OWN_UNIT = {"test_docs.py": ("test_page_code_runs",),
            "test_suites_learning.py": ("test_",)}


def xdist_unit(file_name: str, test_name: str) -> str:
    """The scheduling unit of a test: its file, or the test itself (OWN_UNIT)."""
    if any(test_name.startswith(prefix) for prefix in OWN_UNIT.get(file_name, ())):
        return f"{file_name}::{test_name}"
    return file_name


def unit_of_node_id(node_id: str) -> str:
    """`xdist_unit` of a node id such as tests/test_docs.py::test_page_code_runs[README.md]."""
    path, _, test_name = node_id.partition("::")
    return xdist_unit(PurePath(path).name, test_name)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: neither called nor validated without xdist
def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduler with `unit_of_node_id` as the scope."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_node_id(nodeid)

    return UnitScheduling(config, log)
