"""`ppo-jax`: the command line, one subcommand per task.

    ppo-jax train     train a population of PPO agents, resumable (ppo_jax.cli.train)
    ppo-jax sweep     a grid or random hyperparameter sweep (ppo_jax.cli.sweep)
    ppo-jax pbt       population-based training, resumable (ppo_jax.cli.pbt)
    ppo-jax evaluate  returns of a trained checkpoint, and a GIF (ppo_jax.cli.evaluate)
    ppo-jax plot      redraw or overlay learning curves (ppo_jax.cli.plot)

`ppo-jax COMMAND --help` lists a subcommand's flags (`ppo-jax train --env ENV
--help`: with ENV's preset as the defaults). `python -m ppo_jax` is the same
command. Bad input (an unknown flag, a value that does not parse, an output
folder already in use) is reported with the flag and what it takes, exit code
2, before anything is compiled or written.

Exit codes: 0 done; 2 bad input; 3 `train` stopped by SIGTERM or Ctrl-C after
saving its last chunk (resumable: `ppo-jax train --resume DIR`); 130
interrupted (a second Ctrl-C, or one outside a training run).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from ppo_jax.cli.common import UsageError

COMMANDS = ("train", "sweep", "pbt", "evaluate", "plot")
PROG = "ppo-jax"


def _module(name: str):
    return importlib.import_module(f"ppo_jax.cli.{name}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ppo_jax")
    except PackageNotFoundError:
        return "unknown"


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """(the top-level parser, {command: its subparser}).

    Only the subcommand named in `argv` gets its flags: train's defaults depend
    on its --env/--resume (read from `argv`), and the others are not needed.
    """
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog=PROG, description=doc.split("\n\n")[0],
                                     epilog="\n\n".join(doc.split("\n\n")[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       title="commands")
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parsers = {}
    for name in COMMANDS:
        module = _module(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == command:
            try:
                module.add_arguments(sub, argv[argv.index(name) + 1:])
            except UsageError as err:  # train --resume DIR: DIR's run cannot be read
                sub.error(str(err))
        parsers[name] = sub
    return parser, parsers


def run_command(argv: list[str] | None = None) -> Any:
    """Parses `argv` (default: sys.argv[1:]) and runs the subcommand; returns what it returns
    (train: the output folder; sweep: the SweepResult; pbt: the PBTResult; evaluate: the
    results dict; plot: the PNG paths).

    Raises SystemExit: 0 after --help, 2 on bad input (the message on stderr), 3 when
    SIGTERM or SIGINT stopped `train` after saving its last chunk (resumable).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, parsers = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand (its usage line), not by the top-level parser
        parsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return _module(args.command).run(args, argv[argv.index(args.command) + 1:])
    except UsageError as err:
        parsers[args.command].error(str(err))


def main(argv: list[str] | None = None) -> int:
    """The `ppo-jax` entry point: runs the subcommand; returns the exit code (0: done,
    2: bad input, 3: train stopped by SIGTERM/SIGINT with its last chunk saved, resumable;
    130: interrupted)."""
    try:
        run_command(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
