"""Compiled population programs: one cache for `train_seeds` and `sweep`, and real compile counts.

A population program is a jitted function of (per-member keys, HParams) built
from static arguments (config, env, env_params, ...). `compile_population`
lowers and compiles it ahead of time for the given arguments' shapes and
shardings and keeps the executable, so a later call with other HParams values
(same static arguments, same population size) reuses it. It returns whether
it compiled, so each caller counts its own compiles: two sweeps in one
process (or in two threads) never see each other's counts.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import jax

CACHE_SIZE = 32  # compiled programs kept (least recently used dropped first)

_cache: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()


def _signature(args: tuple) -> tuple:
    """What a compiled program is specialised to: tree structure, shapes, dtypes, shardings."""
    leaves, treedef = jax.tree.flatten(args)
    return (treedef,) + tuple(
        (x.shape, str(x.dtype), getattr(x, "sharding", None) if isinstance(x, jax.Array) else None)
        for x in leaves
    )


def _hashable(key: tuple) -> bool:
    try:
        hash(key)
    except TypeError:  # e.g. env_params with array leaves
        return False
    return True


def compile_population(build: Callable[..., Callable], static_args: tuple, args: tuple,
                       ) -> tuple[Callable, bool]:
    """(executable, compiled_now): `build(*static_args)` (a jitted function) compiled for `args`.

    The executable is cached on (build, static_args, the args' signature) when
    the static arguments are hashable; unhashable ones (an `env_params` with
    array leaves) compile every call. Errors from building or compiling
    propagate unchanged.
    """
    key = (build, static_args, _signature(args))
    cacheable = _hashable(key)
    if cacheable:
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key], False
    executable = build(*static_args).lower(*args).compile()
    if cacheable:
        with _lock:
            _cache[key] = executable
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return executable, True


def clear_cache() -> None:
    """Drops every cached executable (the next call of each program compiles again)."""
    with _lock:
        _cache.clear()
