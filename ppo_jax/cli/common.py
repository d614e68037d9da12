"""What the subcommands share: usage errors, the output-folder rules, the
`key=value` / `key=low:high[:log]` value parsers (sweep and pbt), and the flags
generated from the `PPOConfig` and `HParams` dataclass fields (train).

Every parser here reports bad input as a `UsageError` naming the flag and the
bad value; `ppo_jax.cli.main` prints it with the subcommand's name and exits
with code 2, before anything is compiled or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ppo_jax.util.files import is_temporary, remove


class UsageError(ValueError):
    """Bad command-line input: reported as `ppo-jax <command>: error: <message>`, exit code 2."""


# --- output folders -------------------------------------------------------------------
def prepare_output_folder(out: str | os.PathLike, overwrite: bool, run_files: tuple[str, ...],
                          what: str = "a ppo_jax run's") -> None:
    """Checks `out` for a fresh run and, with `overwrite`, removes the previous run's files.

    `run_files`: the entries a run writes into its folder; their temporary
    siblings (an interrupted atomic write's `<name>.tmp-<pid>` / `.old-<pid>`)
    count as the run's too. Refused with a UsageError (nothing touched): `out`
    is a file; `out` is not empty and `overwrite` is off; `overwrite` is on but
    `out` holds other entries (they may be the user's; they are never deleted).
    """
    out = os.fspath(out)
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise UsageError(f"--out {out} exists and is not a folder")
    entries = sorted(os.listdir(out))
    if not entries:
        return
    if not overwrite:
        raise UsageError(
            f"--out {out} is not empty (it holds {', '.join(entries)}); pass --overwrite to replace "
            f"the run there, --resume {out} to continue it, or choose another --out")
    foreign = [name for name in entries if name not in run_files and not is_temporary(name, run_files)]
    if foreign:
        raise UsageError(
            f"--overwrite: {out} holds files that are not {what} ({', '.join(foreign)}); "
            "they are never deleted: move them or choose another --out")
    for name in entries:  # only the previous run's files are left
        remove(os.path.join(out, name))


# --- key=value settings (sweep --set/--grid/--random, pbt --set/--space/--init) --------
def _convert(key: str, text: str, convert: Callable[[str], Any], expected: str, option: str):
    """convert(text), or a UsageError naming the option, the key, the bad value and the type."""
    try:
        return convert(text)
    except ValueError:
        raise UsageError(f"{option} {key}: {text!r} is not {expected}") from None


def parse_bool(text: str) -> bool:
    """true/false/1/0 (any case) -> bool; ValueError otherwise."""
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(text)
    return text.lower() in ("true", "1")


def parse_sizes(text: str) -> tuple[int, ...]:
    """64x64 -> (64, 64)."""
    return tuple(int(x) for x in text.split("x"))


def parse_value(key: str, text: str, option: str = "--grid"):
    """One value of setting `key` from text, typed like the field's default.

    HParams fields are floats; static PPOConfig fields are ints, booleans
    (true/false), layer sizes (64x64) or strings, like their defaults. Raises a
    UsageError naming `option`, `key`, the text and the expected type when the
    text does not parse, and listing the valid keys for an unknown key.
    """
    from ppo_jax.config.config import STATIC_FIELDS, PPOConfig
    from ppo_jax.config.hparams import HPARAM_FIELDS
    from ppo_jax.population.grids import VALID_KEYS

    if key not in HPARAM_FIELDS and key not in STATIC_FIELDS:
        raise UsageError(f"{option}: unknown key {key!r}; {VALID_KEYS}")
    if key in HPARAM_FIELDS:
        return _convert(key, text, float, "a number (e.g. 3e-4)", option)
    default = getattr(PPOConfig(), key)
    if isinstance(default, bool):
        return _convert(key, text, parse_bool, "true or false", option)
    if isinstance(default, int):
        return _convert(key, text, int, "an integer (e.g. 8)", option)
    if isinstance(default, tuple):
        return _convert(key, text, parse_sizes, "layer sizes as integers joined by x (e.g. 64x64)",
                        option)
    return text


def split_assignment(text: str, option: str) -> tuple[str, str]:
    """key=value -> (key, value); a UsageError naming `option` without a key or a value."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise UsageError(f"{option} takes key=value, got {text!r}")
    return key.strip(), value.strip()


def parse_set(text: str, option: str = "--set") -> tuple[str, Any]:
    """key=value (a --set override) -> (key, typed value)."""
    key, value = split_assignment(text, option)
    return key, parse_value(key, value, option)


def parse_overrides(texts: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """Repeated --set key=value -> {key: typed value}."""
    return dict(parse_set(text, option) for text in texts)


def parse_grid(texts: Iterable[str], option: str = "--grid") -> dict[str, list]:
    """Repeated key=v1,v2,... -> {key: [typed values]} (a Cartesian grid)."""
    grid = {}
    for text in texts:
        key, values = split_assignment(text, option)
        grid[key] = [parse_value(key, v.strip(), option) for v in values.split(",")]
    return grid


def parse_range(text: str, option: str = "--random") -> tuple[str, Any]:
    """The range syntax of sweep --random and pbt --space/--init.

    key=low:high -> (key, (low, high)); key=low:high:log -> (key, (low, high, "log"));
    key=a|b|c -> (key, [a, b, c]) (values typed like the field). The tuples are
    what `ppo_jax.random_search` and `ppo_jax.pbt` take (they check low < high).
    """
    key, value = split_assignment(text, option)
    if "|" in value:
        return key, [parse_value(key, v, option) for v in value.split("|")]
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"{option} {key} takes low:high, low:high:log or a|b|c, got {value!r}")
    bounds = [_convert(key, part, float, "a number (a range is low:high or low:high:log)", option)
              for part in parts[:2]]
    return key, (*bounds, *parts[2:])


def parse_ranges(texts: Iterable[str], option: str) -> dict[str, tuple]:
    """Repeated key=low:high[:log] (ranges only, no a|b|c choices) -> {key: (low, high[, "log"])}."""
    ranges = {}
    for text in texts:
        key, spec = parse_range(text, option)
        if isinstance(spec, list):
            raise UsageError(f"{option} {key}: PBT evolves ranges low:high[:log], not choices a|b|c")
        ranges[key] = tuple(spec)
    return ranges


# --- flags generated from dataclass fields (train) -------------------------------------
def attribute_docs(cls) -> dict[str, str]:
    """The `Attributes:` section of a Google-style class docstring -> {name: text}."""
    doc = cls.__doc__ or ""
    section = doc.split("Attributes:", 1)[-1]
    names = {f.name for f in dataclasses.fields(cls)}
    docs, name = {}, None
    for line in section.splitlines():
        match = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if match and match.group(1) in names:
            name = match.group(1)
            docs[name] = match.group(2).strip()
        elif name and line.strip():
            docs[name] += " " + line.strip()
    return docs


def format_default(value: Any) -> str:
    """A default as the command line spells it: sequences space-separated, dicts as KEY VALUE pairs."""
    if isinstance(value, dict):
        value = [str(x) for pair in value.items() for x in pair]
    if isinstance(value, (tuple, list)):
        return " ".join(str(x) for x in value) if value else "(none)"
    return str(value)


def flag_help(text: str, default: Any = None, *, show_default: bool = True,
              default_text: str | None = None) -> str:
    """Help text (argparse %-escaped) with "(default: ...)" appended."""
    text = text.replace("%", "%%")
    if default_text is not None:
        return f"{text} {default_text}".strip()
    if show_default:
        return f"{text} (default: {format_default(default).replace('%', '%%')})".strip()
    return text


class BoolFlag(argparse.Action):
    """--name / --no-name: a boolean flag (what tyro generated for `bool` fields)."""

    def __init__(self, option_strings, dest, default=False, help=None, **kwargs):
        strings = []
        for option in option_strings:
            strings += [option, "--no-" + option[2:]]
        super().__init__(strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not option_string.startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


class KeyValuePairs(argparse.Action):
    """KEY VALUE [KEY VALUE ...] -> {KEY: VALUE}, integers where a VALUE is one."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) % 2:
            parser.error(f"argument {option_string}: takes KEY VALUE pairs, got an odd number of "
                         f"words: {' '.join(values)}")
        pairs = {}
        for key, value in zip(values[::2], values[1::2], strict=True):
            try:
                pairs[key] = int(value)
            except ValueError:
                pairs[key] = value
        setattr(namespace, self.dest, pairs)


def add_field_flag(parser, name: str, default: Any, help_text: str, *, choices=None,
                   metavar: str | None = None, element_type=None, value_type=None) -> None:
    """A --flag for the dataclass field `name`, typed like its default.

    bool: --name/--no-name; int, float, str: one value; tuple: zero or more
    values of `element_type` (int by default); dict: KEY VALUE pairs; `choices`:
    one of them (the error lists them); `value_type`: the one value's argparse type
    instead of the default's type (it raises argparse.ArgumentTypeError for a bad value).
    """
    flag = "--" + name.replace("_", "-")
    help_text = flag_help(help_text, default)
    if isinstance(default, bool):
        parser.add_argument(flag, action=BoolFlag, default=default, help=help_text)
    elif isinstance(default, dict):
        parser.add_argument(flag, nargs="*", action=KeyValuePairs, default=default,
                            metavar=metavar or "KEY VALUE", help=help_text)
    elif isinstance(default, tuple):
        parser.add_argument(flag, nargs="*", type=element_type or int, default=default,
                            metavar=metavar or "INT", help=help_text)
    else:
        kind = type(default)
        parser.add_argument(flag, type=value_type or kind, default=default, choices=choices, help=help_text,
                            metavar=metavar or ("{" + ",".join(choices) + "}" if choices else
                                                kind.__name__.upper()))


def add_base_config_arguments(p: argparse.ArgumentParser) -> None:
    """--env and --set: the base config of a sweep or a PBT run (the env's preset, overridden)."""
    p.add_argument("--env", default="CartPole-v1", help="env id: gymnax, or brax/<name>, navix/<id>, "
                   "craftax/<id> (base: ppo_jax.preset(env)) (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base setting (static field or HParams field); repeatable")


# --- Several processes (hosts) through jax.distributed --------------------------------
_INITIALIZED = "PPO_JAX_DISTRIBUTED_INITIALIZED"


def add_distributed_arguments(p: argparse.ArgumentParser) -> None:
    """--distributed and the three settings passed to `jax.distributed.initialize()`."""
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (multi-host; see the docs guide 'Scaling out')")
    p.add_argument("--coordinator-address", help="host:port of process 0 (--distributed)")
    p.add_argument("--num-processes", type=int, help="number of processes (--distributed)")
    p.add_argument("--process-id", type=int, help="this process's index (--distributed)")


def initialize_distributed(args: argparse.Namespace, argv: list[str], command: str) -> None:
    """jax.distributed.initialize() with the --coordinator-address/--num-processes/--process-id.

    It must run before anything starts a JAX backend, and importing ppo_jax (gymnax)
    does, so the process re-executes itself (same pid, same arguments) as a Python
    that calls initialize() first and then runs `ppo-jax <command> <argv>`.
    """
    if os.environ.get(_INITIALIZED) == "1":
        return
    init_args = (args.coordinator_address, args.num_processes, args.process_id)
    os.environ[_INITIALIZED] = "1"
    code = (f"import sys, jax; jax.distributed.initialize(*{init_args!r}); "
            "from ppo_jax.cli.main import main; sys.exit(main(sys.argv[1:]))")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-c", code, command, *argv])
