"""PEP 561: the package ships `py.typed`, and its public signatures are annotated."""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path

import pytest

import ppo_jax

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

PACKAGE = Path(ppo_jax.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_py_typed_marker_is_shipped_as_package_data():
    assert (PACKAGE / "py.typed").is_file()
    config = tomllib.loads(PYPROJECT.read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["ppo_jax"]


def public_callables():
    """(name, function) for every function exported from ppo_jax and the public methods
    of every exported class that ppo_jax defines (not inherited from flax or tuple)."""
    for name in ppo_jax.__all__:
        obj = getattr(ppo_jax, name)
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for attr, value in vars(obj).items():
                is_public = not attr.startswith("_") or attr == "__init__"
                if inspect.isfunction(value) and is_public and value.__module__.startswith("ppo_jax"):
                    yield f"{name}.{attr}", value


CALLABLES = dict(public_callables())


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_public_signature_is_annotated(name):
    function = CALLABLES[name]
    signature = inspect.signature(function)
    missing = [p for p in signature.parameters if p not in ("self", "cls")
               and signature.parameters[p].annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: parameters without a type: {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, f"{name}: no return type"
    typing.get_type_hints(function)  # every annotation names something that exists


def test_the_public_api_is_covered():
    assert {"make_train", "make_trainer", "train_seeds", "sweep", "evaluate", "load", "save",
            "preset", "ProgressBar.__init__", "TrainOutput.to_dataframe"} <= set(CALLABLES)
