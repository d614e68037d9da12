"""Argument checks shared by every public entry point.

One definition of "an integer", "a positive integer", "a real number" and "a
bool", so that every function accepts the same values (Python and numpy
scalars alike) and words its errors the same way: `<where>: <name> must be
..., got <value>`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_integer(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or numpy real number (int or float), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def check_integer(value: Any, name: str, where: str) -> int:
    """`value` as a Python int; ValueError unless it is an integer."""
    if not is_integer(value):
        raise ValueError(f"{where}: {name} must be an integer, got {value!r}")
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
