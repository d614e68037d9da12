"""Every docstring example in ppo_jax runs and prints what it shows (doctest).

One test per module, so a failing example names its module. The examples use
tiny budgets (a few updates), so the whole file adds seconds, not minutes.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ppo_jax

MODULES = sorted(info.name for info in pkgutil.walk_packages(ppo_jax.__path__, "ppo_jax."))
# Whitespace in printed frames and arrays is layout, not content.
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    return [test for test in doctest.DocTestFinder().find(module) if test.examples]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in examples(module_name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {module_name} failed"


def test_the_public_examples_are_found():
    """The finder sees the examples of the public entry points (a broken finder tests nothing)."""
    found = {test.name for name in MODULES for test in examples(name)}
    assert {"ppo_jax.train.make_train", "ppo_jax.train.train_seeds", "ppo_jax.population.sweep",
            "ppo_jax.population.search.random_search", "ppo_jax.analysis.statistics.final_return"} <= found
