"""The API reference covers every public name, and every public name has a docstring.

Public: the names of `ppo_jax.__all__`, and every function and class (and
their public methods and properties) defined in the modules the reference
documents: every module of the package but the command line (`ppo_jax.cli`,
documented in the CLI guide), the internal helpers (`ppo_jax.util`) and the old
flat-layout paths that only forward to new ones. The reference's pages are
mkdocstrings directives (`::: ppo_jax.NAME`); mkdocs renders what they name.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import ppo_jax

ROOT = Path(__file__).resolve().parent.parent
API_DOCS = ROOT / "docs" / "api"
INTERNAL = ("cli", "util", "_moved", "__main__", "loggers", *ppo_jax._OLD_MODULES)
DIRECTIVE = re.compile(r"^:::\s*(ppo_jax[\w.]*)", re.MULTILINE)


def documented_modules() -> list[str]:
    names = ["ppo_jax"]
    for info in pkgutil.walk_packages(ppo_jax.__path__, "ppo_jax."):
        if info.name.split(".")[1] not in INTERNAL:
            names.append(info.name)
    return sorted(names)


def directives() -> set[str]:
    """Every object path the API pages render."""
    return {m for page in API_DOCS.glob("*.md") for m in DIRECTIVE.findall(page.read_text())}


def public_members(module_name: str) -> dict[str, object]:
    """Functions and classes defined in the module itself, not imported, not private."""
    module = importlib.import_module(module_name)
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module_name}


def class_members(cls: type) -> dict[str, object]:
    """Public methods and properties written in the class body (dataclass fields aside)."""
    out = {}
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or isinstance(attr, property):
            out[name] = getattr(cls, name)
    return out


def missing_docstrings(module_name: str) -> list[str]:
    missing = [] if importlib.import_module(module_name).__doc__ else [f"{module_name} (module)"]
    for name, obj in public_members(module_name).items():
        if not inspect.getdoc(obj):
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            for member_name, member in class_members(obj).items():
                # getattr on the class: a property is itself; a method override inherits its base's doc
                doc = member.__doc__ if isinstance(member, property) else inspect.getdoc(member)
                if not (doc or "").strip():
                    missing.append(f"{module_name}.{name}.{member_name}")
    return missing


@pytest.mark.parametrize("module_name", documented_modules())
def test_every_public_name_has_a_docstring(module_name):
    assert not missing_docstrings(module_name), f"no docstring: {missing_docstrings(module_name)}"


def accepted_paths(name: str) -> set[str]:
    """The directives that render top-level name `name`: `ppo_jax.NAME`, or its defining path.

    Where a function has the name of a submodule (`ppo_jax.evaluate`, `ppo_jax.pbt`),
    mkdocstrings resolves `ppo_jax.NAME` to the module, so only the defining path counts."""
    obj = getattr(ppo_jax, name)
    if inspect.ismodule(obj):
        return {f"ppo_jax.{name}"}
    canonical = f"{obj.__module__}.{obj.__qualname__}"
    shadowed = importlib.util.find_spec(f"ppo_jax.{name}") is not None
    return {canonical} if shadowed else {f"ppo_jax.{name}", canonical}


def test_the_reference_renders_every_top_level_name():
    rendered = directives()
    missing = sorted(name for name in ppo_jax.__all__ if not accepted_paths(name) & rendered)
    assert not missing, f"docs/api/ has no `::: ppo_jax.NAME` for {missing}"
    assert accepted_paths("evaluate") == {"ppo_jax.evaluate.evaluate"}


def test_the_reference_renders_every_documented_module():
    """Each module's page entry renders its public members (mkdocstrings shows members with docstrings)."""
    rendered = directives()
    missing = [name for name in documented_modules() if name != "ppo_jax" and name not in rendered
               and public_members(name)]
    assert not missing, f"docs/api/ has no `::: MODULE` directive for {missing}"


def resolve(path: str) -> object:
    """The object a dotted path names: the longest importable module prefix, then attributes.

    (`ppo_jax.pbt` is both a subpackage and, as an attribute of `ppo_jax`, the function.)"""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ModuleNotFoundError(path)


def test_every_directive_names_something_that_exists():
    for path in directives():
        assert resolve(path) is not None, path


def test_the_check_finds_a_missing_docstring(tmp_path, monkeypatch):
    """The docstring check is not vacuous: a module with an undocumented function fails it."""
    (tmp_path / "undocumented_mod.py").write_text('"""A module."""\n\ndef f():\n    return 1\n\n'
                                                  'class C:\n    """Doc."""\n    def g(self):\n        pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert missing_docstrings("undocumented_mod") == ["undocumented_mod.f", "undocumented_mod.C.g"]
