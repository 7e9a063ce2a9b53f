"""The `dockline` command: parse, call the engine, render, and map errors to exit codes.

The one place where exceptions become messages and exit statuses (Docker's: 125 when dockline
itself fails or a flag is bad, 1 when a command fails, 126/127 when the container command cannot
be run). Only the module of the command being run is imported, and a plain command line is read
by `grammar.parse`; argparse (`cli.usage`) is imported only for help and usage errors.
"""

from __future__ import annotations

import os
import sys

from dockline.cli.grammar import Args, Command, command_words, parse
from dockline.errors import DocklineError, ExitStatus
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

# command word -> the module that declares and runs it
MODULES = {
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
    "version": "system",
}


def commands_of(module: str) -> tuple[Command, ...]:
    """The commands a `dockline.cli` module declares, imported on demand.

    `__import__` rather than `importlib.import_module`: the `importlib` package (with `warnings`)
    cost ~0.5 ms of every command's start here, to do what the built-in does.
    """
    name = f"dockline.cli.{module}"
    __import__(name)
    commands: tuple[Command, ...] = sys.modules[name].COMMANDS
    return commands


def parse_command_line(argv: Sequence[str]) -> Args:
    """The parsed arguments; on --help or a usage error argparse prints and exits (125)."""
    start, words = command_words(argv)
    module = MODULES.get(words[0]) if words else None
    commands = commands_of(module) if module else ()
    matching = [c for c in commands if list(c.words) == words[: len(c.words)]]
    if matching:
        args = parse(argv, start, max(matching, key=lambda c: len(c.words)))
        if args is not None:
            return args
    from dockline.cli import usage

    if not commands:
        commands = tuple(c for m in dict.fromkeys(MODULES.values()) for c in commands_of(m))
    return usage.parse_args(argv, commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one dockline command; returns the exit status."""
    return run(parse_command_line(sys.argv[1:] if argv is None else list(argv)))


def run(args: Args) -> int:
    """Call the command's handler; errors become messages and exit statuses."""
    try:
        status: int = args.handler(args)
    except DocklineError as err:
        print(f"dockline: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.ERROR
    return status


def entry() -> None:
    """The console script: run, flush, and leave without the interpreter's teardown.

    Tearing down ~80 modules and collecting them cost ~2.5 ms of every call (measured), and
    there is nothing left to do by then: files and sockets are closed, children are reaped,
    stdout and stderr are flushed here, and the store's connection is left for the exit to
    drop on purpose (see `Engine`). An exception that escapes `run` (a bug), or argparse's
    exit for --help and usage errors, still leaves the normal way.
    """
    args = parse_command_line(sys.argv[1:])
    args.exiting = True
    status = run(args)  # `args` keeps the command's engine, and its store, until the exit
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away: what it did not read is lost, as in main
        status = status or ExitStatus.ERROR
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    entry()
