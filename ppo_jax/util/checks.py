"""Argument checks shared by every public entry point.

One definition of "an integer", "a positive integer", "a real number" and "a
bool", so that every function accepts the same values (Python and numpy
scalars alike) and words its errors the same way: `<where>: <name> must be
..., got <value>`.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def is_integer(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or numpy real number (int or float), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _key_hint(value: Any) -> str:
    """A hint for the common mistake of passing a PRNG key where an int seed is expected."""
    dtype = getattr(value, "dtype", None)
    is_key = dtype is not None and (jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) or (
        np.dtype(dtype) == np.uint32 and np.shape(value) == (2,)))
    return (" (a PRNG key: pass the integer it was made from, e.g. seed=0 for jax.random.key(0))"
            if is_key else "")


def check_integer(value: Any, name: str, where: str) -> int:
    """`value` as a Python int; ValueError unless it is an integer."""
    if not is_integer(value):
        hint = _key_hint(value)
        shown = f"an array of dtype {value.dtype} and shape {np.shape(value)}" if hint else repr(value)
        raise ValueError(f"{where}: {name} must be an integer, got {shown}{hint}")
    return int(value)


def check_positive_int(value: Any, name: str, where: str) -> int:
    """`value` as a Python int; ValueError unless it is an integer > 0."""
    if not is_integer(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_bool(value: Any, name: str, where: str) -> bool:
    """`value` as a Python bool; ValueError unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


def parse_range(spec: Any, where: str, alternatives: str = "") -> tuple[float, float, bool]:
    """A range `(low, high)`, `(low, high, "uniform")` or `(low, high, "log")` -> (low, high, log).

    The one parser of ranges, for random search's spaces and PBT's. A ValueError starting
    with `where` (e.g. "pbt: space['learning_rate']"), then what a range must be, then
    `alternatives` (other forms the caller accepts), then the value given.
    """
    is_range = isinstance(spec, tuple) and len(spec) in (2, 3) and all(is_real(x) for x in spec[:2])
    log = is_range and spec[2:] == ("log",)
    if not is_range or spec[2:] not in ((), ("log",), ("uniform",)) or not spec[0] < spec[1] or (
            log and spec[0] <= 0):
        raise ValueError(f"{where} must be (low, high) or (low, high, 'log') with low < high "
                         f"(low > 0 for 'log'){alternatives}; got {spec!r}")
    return float(spec[0]), float(spec[1]), log
