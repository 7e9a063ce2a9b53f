"""The `dockline` command: parse, call the engine, render, and map errors to exit codes.

The one place where exceptions become messages and exit statuses (Docker's: 125 when dockline
itself fails or a flag is bad, 1 when a command fails, 126/127 when the container command cannot
be run). Command modules are imported only when their command runs, to keep start-up short.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dockline.errors import DocklineError, ExitStatus

Handler = Callable[[argparse.Namespace], int]


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the width so that it does not import shutil to ask (~3 ms:
    argparse builds a formatter for every argument it adds, help or not)."""

    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns - 2
        except OSError:
            width = 78
        super().__init__(prog, width=max(width, 40))


class Parser(argparse.ArgumentParser):
    """argparse, exiting with Docker's 125 on a usage error instead of 2, with our formatter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitStatus.DOCKLINE)


# command -> the module that parses and runs it; only that module is imported and only that
# command's parser is built (building all of them cost ~10 ms of every start).
COMMANDS = {
    "run": "containers",
    "ps": "containers",
    "inspect": "containers",
    "exec": "containers",
    "stop": "containers",
    "kill": "containers",
    "rm": "containers",
    "logs": "containers",
    "network": "networks",
    "gc": "networks",
}
GLOBAL_OPTIONS_WITH_VALUE = ("--root", "--run-root", "--config")


def find_command(argv: Sequence[str]) -> str | None:
    """The command word in argv, skipping global options and their values."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> Parser:
    """The parser for one command (with the global options), or for all when None."""
    import importlib

    parser = Parser(prog="dockline", description="Docker-style container networking for Linux.")
    parser.add_argument("--root", help="state directory (env DOCKLINE_ROOT; /var/lib/dockline)")
    parser.add_argument(
        "--run-root", help="runtime directory (env DOCKLINE_RUN_ROOT; /run/dockline)"
    )
    parser.add_argument(
        "--config", help="daemon.json (env DOCKLINE_CONFIG; /etc/dockline/daemon.json)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for module in dict.fromkeys(COMMANDS.values()):
        if command is None or COMMANDS[command] == module:
            importlib.import_module(f"dockline.cli.{module}").add_parsers(commands, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one dockline command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(find_command(argv)).parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DocklineError as err:
        print(f"dockline: {err}", file=sys.stderr)
        return int(err.exit_status)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitStatus.ERROR)


def entry() -> None:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
