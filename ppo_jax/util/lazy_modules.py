"""Plotting modules that gymnax imports for its `render` methods, loaded on first use.

gymnax's Catch, Pong, FourRooms, MetaMaze and PointRobot modules import
`matplotlib.pyplot` at module level, and Pong `seaborn` (which imports scipy.stats
and pandas), though only their `render` methods use them. Importing gymnax thus
cost 2.2 s of the 5.1 s `import ppo_jax` took, paid by every `ppo-jax` command.

`defer_plotting_modules()` registers those modules as deferred modules before
gymnax is imported: the module object (with its `__spec__`, `__file__`, ...) is in
`sys.modules` at once, and its code runs in that object on the first access to a
name it defines (a `render`, or the user's own `plt.plot`), so the only change is
when it loads. Modules already imported, or not installed, are left alone.

Not `importlib.util.LazyLoader`: its modules load on any attribute access, and an
`import` statement reads `__spec__`, so gymnax's `import seaborn` would load it.
"""

from __future__ import annotations

import importlib.util
import sys
import types

# Imported at module level by gymnax, used only by its render methods.
GYMNAX_PLOTTING_MODULES = ("matplotlib.pyplot", "seaborn")


class DeferredModule(types.ModuleType):
    """A module whose code runs on the first access to a name it does not have yet.

    `__getattr__` (not `__getattribute__`) sees only names missing from the module's
    dict, so the import system's reads of `__spec__`, `__path__`, ... do not load it.
    """

    def __getattr__(self, name: str):
        self.__class__ = types.ModuleType  # from here on an ordinary module
        try:
            self.__spec__.loader.exec_module(self)
        except BaseException:
            sys.modules.pop(self.__spec__.name, None)  # a later import tries again, and raises
            raise
        return getattr(self, name)


def deferred_module(name: str) -> types.ModuleType | None:
    """`name` as a `DeferredModule` in `sys.modules` (the module itself if already imported).

    Returns None where `name` is not installed. A submodule's parent package is
    imported for real and gets the deferred module as its attribute, as an import would.
    """
    if name in sys.modules:
        return sys.modules[name]
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:  # a parent package is missing
        return None
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    module.__class__ = DeferredModule
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def defer_plotting_modules(names: tuple[str, ...] = GYMNAX_PLOTTING_MODULES) -> None:
    """Register `names` as deferred modules (see the module docstring); call before importing gymnax."""
    for name in names:
        deferred_module(name)
