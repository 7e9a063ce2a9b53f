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

from dockline.errors import DocklineError, ExitStatus

Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, exiting with Docker's 125 on a usage error instead of 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitStatus.DOCKLINE)


def build_parser() -> Parser:
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
    from dockline.cli import containers, networks

    containers.register(commands)
    networks.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one dockline command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
