"""Old module paths kept working after a move, the way optax does it.

A moved module's old file holds only a module `__getattr__` made here: each
public name is still served, from its new module, with a `DeprecationWarning`
that names the new path.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved_names(old_module: str, new_modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `old_module`: `name` -> `new_modules[name].name`, warning.

    Args:
      old_module: the old dotted path (the shim module's `__name__`).
      new_modules: {public name: the dotted path of the module it now lives in}.
    """

    def __getattr__(name: str) -> Any:
        new = new_modules.get(name)
        if new is None:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        warnings.warn(
            f"{old_module}.{name} has moved to {new}.{name}; import it from there "
            f"({old_module} is kept for old code and will be removed in a future release)",
            DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    __getattr__.moved = dict(new_modules)  # what this path serves (tests list it)
    return __getattr__
