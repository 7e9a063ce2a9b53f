"""argparse, built from the command declarations, for help and for usage errors.

Only a command line that `grammar.parse` does not find plain gets here (`--help`, a typo, a
missing value): argparse then prints the help, or one line naming the bad argument and the
command it was given to, pointing to that command's help, and exits with Docker's 125.
"""

from __future__ import annotations

import argparse
import os
import sys

from dockline import __version__
from dockline.cli.grammar import (
    APPEND,
    FLAG,
    GLOBAL_OPTIONS,
    REST,
    SOME,
    Args,
    Command,
    Option,
)
from dockline.errors import ExitStatus
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the width so that it does not import shutil to ask."""

    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns - 2
        except OSError:
            width = 78
        super().__init__(prog, width=max(width, 40))


class Parser(argparse.ArgumentParser):
    """argparse, exiting with Docker's 125 on a usage error instead of 2, with our formatter,
    and, as Docker's CLI, taking no abbreviated long options (`ps --al` is not `--all`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One line, as every other bad input gets, and where to read the usage (Docker's CLI
        says "See 'docker ps --help'." on a line of its own)."""
        print(f"{self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(ExitStatus.DOCKLINE)


def parse_args(argv: Sequence[str], commands: Sequence[Command]) -> Args:
    """Parse with argparse (it exits on --help or a usage error). A line that is valid but
    names no command (`dockline`, `dockline --root X`, `dockline network`) prints that help
    and exits 0, as Docker's CLI does; one with a bad flag is still a usage error (125)."""
    parser = build_parser(commands)
    args, extra = parser.parse_known_args(argv, namespace=Args())
    named: Parser = vars(args).pop("parser", parser)  # the command's, not a parsed argument
    if extra:
        unknown(named, extra[0])
    if getattr(args, "handler", None) is None:
        parser.parse_args([*argv, "--help"])  # the help of the group named, or of dockline
    return args


def unknown(parser: Parser, word: str) -> NoReturn:
    """An argument that nothing takes, blamed on the command it was given to (argparse's own
    `parse_args` would blame `dockline` for `dockline ps --bogus`)."""
    if word.startswith("-") and word != "-":
        parser.error(f"unknown flag: {word.split('=', 1)[0]}")
    parser.error(f"unexpected argument {word!r}")


def build_parser(commands: Sequence[Command]) -> Parser:
    """The `dockline` parser with these commands (the ones of the command line, or all)."""
    parser = Parser(prog="dockline", description="Docker-style container networking for Linux.")
    for option in GLOBAL_OPTIONS:
        _add_option(parser, option)
    parser.add_argument(
        "-v", "--version", action="version", version=f"dockline version {__version__}"
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    top.required = False  # no command is a request for help (parse_args), not an error
    groups: dict[str, Any] = {}
    for command in commands:
        first, *more = command.words
        if not more:
            _add_command(top, command.words[-1], command)
            continue
        if first not in groups:
            group = top.add_parser(first, help=GROUP_HELP.get(first, ""))
            group.set_defaults(parser=group)
            groups[first] = group.add_subparsers(
                dest=f"{first}_command", metavar="COMMAND", parser_class=Parser
            )
            groups[first].required = False
        _add_command(groups[first], more[-1], command)
    return parser


GROUP_HELP = {"network": "manage networks and attach namespaces"}


def _add_command(subparsers: Any, name: str, command: Command) -> None:
    own_help = command.help_flags == ("-h", "--help")
    parser = subparsers.add_parser(
        name, help=command.help, description=command.description, add_help=own_help
    )
    for flag in () if own_help else command.help_flags:
        parser.add_argument(flag, action="help", help="show this help message and exit")
    exclusive = parser.add_mutually_exclusive_group(required=True) if command.one_of else None
    for option in command.options:
        _add_option(exclusive if option.dest in command.one_of else parser, option)
    for positional in command.positionals:
        nargs = {SOME: "+", REST: argparse.REMAINDER}.get(positional.arity)
        parser.add_argument(positional.dest, nargs=nargs, metavar=positional.metavar)
    parser.set_defaults(handler=command.handler, parser=parser)


def _add_option(parser: Any, option: Option) -> None:
    kwargs: dict[str, Any] = {"dest": option.dest, "help": option.help}
    if option.kind == FLAG:
        kwargs["action"] = "store_true"
    else:
        kwargs["action"] = "append" if option.kind == APPEND else "store"
        kwargs["default"] = [] if option.kind == APPEND else option.default
        if option.convert:
            kwargs["type"] = option.convert
        if option.metavar:
            kwargs["metavar"] = option.metavar
    parser.add_argument(*option.flags, **kwargs)
