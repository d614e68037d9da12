"""Writing files and folders atomically: a reader (or an interrupted writer) never
sees a half-written one.

`atomic_write(path, write)` has `write` fill a temporary path beside `path`
(`<path>.tmp-<pid>`, on the same file system) and then moves it over `path`
with `os.replace`. A folder replaces a previous folder through a swap
(`<path>.old-<pid>`, removed after the swap), since `os.replace` cannot replace a
non-empty folder. If `write` fails, the temporary path is removed and `path`
is left as it was.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable

# What atomic_write leaves beside `path` only when it was interrupted.
TEMPORARY_SUFFIX = re.compile(r"\.(tmp|old)-\d+$")


def temporary_path(path: str | os.PathLike, kind: str = "tmp") -> str:
    """`<path>.<kind>-<pid>`: a name beside `path` that no other process writes."""
    return f"{os.fspath(path)}.{kind}-{os.getpid()}"


def is_temporary(name: str, of: tuple[str, ...] | None = None) -> bool:
    """Whether `name` is a leftover of an interrupted `atomic_write` (of one of `of`, if given)."""
    match = TEMPORARY_SUFFIX.search(name)
    return bool(match) and (of is None or name[:match.start()] in of)


def remove(path: str | os.PathLike) -> None:
    """Removes a file, a link or a folder (with its contents); nothing if `path` does not exist."""
    path = os.fspath(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> str:
    """Calls `write(tmp)` to write a file or a folder at `tmp`, then moves it to `path`.

    Returns `path` (a str). A previous file or folder at `path` stays until the
    new one is complete.
    """
    path = os.fspath(path)
    tmp = temporary_path(path)
    remove(tmp)
    try:
        write(tmp)
        if os.path.isdir(tmp) and os.path.isdir(path) and not os.path.islink(path):
            old = temporary_path(path, "old")
            remove(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    return path
