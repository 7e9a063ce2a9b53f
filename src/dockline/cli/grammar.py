"""The command line as data, and the fast parser that reads well-formed command lines.

Every command declares its words, options and positionals once, as `Command`, `Option` and
`Positional` records. Two parsers read those declarations:

- `parse` here: an exact parser for plainly well-formed command lines, the path of every normal
  run. It needs nothing but this module; `argparse` (with `re`, `enum` and `gettext`) cost ~8 ms
  of every start, a fifth of the `network connect` budget (issue 3).
- argparse, built from the same declarations by `cli.usage`, for everything else: `--help`,
  usage errors with their messages, grouped short flags.

`parse` returns None whenever a command line is anything but plain (an unknown or abbreviated
option, a missing value, a value that fails its conversion, a help flag, a missing positional,
not exactly one of a required group); argparse then decides, so both accept the same language
and every error message comes from one place.
"""

from __future__ import annotations

from dockline.lean import SimpleNamespace
from dockline.records import TYPE_CHECKING, Record

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

VALUE, FLAG, APPEND = "value", "flag", "append"  # Option.kind: --opt V, --opt, --opt V repeated
ONE, SOME, REST = "one", "some", "rest"  # Positional.arity: 1, 1 or more, all that is left


class Args(SimpleNamespace):
    """Parsed arguments: one attribute per option and positional `dest` (as argparse's).

    `exiting` is set by the console script (the process exits right after the command).
    """

    exiting: bool = False


if TYPE_CHECKING:
    Handler = Callable[[Args], int]


class Option(Record):
    flags: tuple[str, ...]  # ("-e", "--env")
    dest: str
    help: str
    kind: str = VALUE
    default: object = None
    convert: Callable[[str], object] | None = None  # raises on a bad value (argparse's `type`)
    metavar: str | None = None


class Positional(Record):
    dest: str
    metavar: str
    arity: str = ONE  # REST keeps a leading `--`, as argparse.REMAINDER does


class Command(Record):
    words: tuple[str, ...]  # ("network", "connect")
    help: str
    handler: Handler
    options: tuple[Option, ...] = ()
    positionals: tuple[Positional, ...] = ()
    one_of: tuple[str, ...] = ()  # dests of which exactly one must be given
    help_flags: tuple[str, ...] = ("-h", "--help")
    description: str | None = None


GLOBAL_OPTIONS = (
    Option(("--root",), "root", "state directory (env DOCKLINE_ROOT; /var/lib/dockline)"),
    Option(("--run-root",), "run_root", "runtime directory (env DOCKLINE_RUN_ROOT; /run/dockline)"),
    Option(("--config",), "config", "daemon.json (env DOCKLINE_CONFIG; /etc/dockline/daemon.json)"),
)


def command_words(argv: Sequence[str]) -> tuple[int, list[str]]:
    """Where the command starts in argv (past the global options) and its leading plain words."""
    takes_value = {f for o in GLOBAL_OPTIONS for f in o.flags}
    start = 0
    while start < len(argv) and argv[start].startswith("-"):
        start += 2 if argv[start] in takes_value else 1
    words = []
    for word in argv[start:]:
        if word.startswith("-"):
            break
        words.append(word)
    return start, words


def parse(argv: Sequence[str], start: int, command: Command) -> Args | None:
    """The arguments of a plain command line (globals, then command words, then the rest)."""
    values: dict[str, object] = {}
    if not _parse_options(argv[:start], GLOBAL_OPTIONS, values):
        return None
    rest = argv[start + len(command.words) :]
    if not _parse_command(rest, command, values):
        return None
    return Args(**values, handler=command.handler)


def _parse_command(argv: Sequence[str], command: Command, values: dict[str, object]) -> bool:
    by_flag = _start(command.options, values)
    slots = list(command.positionals)
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in command.help_flags:
            return False
        if word == "--" or not word.startswith("-"):
            if not slots:
                return False
            slot = slots.pop(0)
            if slot.arity == REST:
                values[slot.dest] = list(argv[i:])
                break
            if word == "--":
                return False
            taken = 1
            if slot.arity == SOME:
                while i + taken < len(argv) and not argv[i + taken].startswith("-"):
                    taken += 1
            values[slot.dest] = list(argv[i : i + taken]) if slot.arity == SOME else word
            i += taken
            if slot.arity == ONE and argv[i : i + 1] == ["--"]:
                # `exec NAME -- CMD`: argparse takes the `--` with NAME and gives CMD the rest.
                if not slots or slots[0].arity != REST:
                    return False
                values[slots.pop(0).dest] = list(argv[i + 1 :])
                break
            continue
        used = _take_option(argv, i, by_flag, values)
        if not used:
            return False
        i += used
    for slot in slots:
        if slot.arity != REST:
            return False
        values[slot.dest] = []
    given = [dest for dest in command.one_of if values[dest] is not None]
    return not command.one_of or len(given) == 1


def _parse_options(
    argv: Sequence[str], options: Sequence[Option], values: dict[str, object]
) -> bool:
    by_flag = _start(options, values)
    i = 0
    while i < len(argv):
        used = _take_option(argv, i, by_flag, values)
        if not used:
            return False
        i += used
    return True


def _start(options: Sequence[Option], values: dict[str, object]) -> dict[str, Option]:
    """Put each option's starting value in `values`; the options by flag."""
    for option in options:
        values[option.dest] = _initial(option)
    return {flag: option for option in options for flag in option.flags}


def _initial(option: Option) -> object:
    if option.kind == FLAG:
        return False
    if option.kind == APPEND:
        return list(option.default) if isinstance(option.default, list) else []
    return option.default


def bad_value(what: str, text: str, expected: str) -> Exception:
    """The error a `convert` function raises: argparse's own type error, so that argparse (the
    fast parser only gives up) reports it as "invalid WHAT 'TEXT': expected ...". argparse is
    imported here, on that error path only."""
    import argparse

    return argparse.ArgumentTypeError(f"invalid {what} {text!r}: expected {expected}")


def _take_option(
    argv: Sequence[str], i: int, by_flag: dict[str, Option], values: dict[str, object]
) -> int:
    """Store the option at argv[i]; returns how many words it used, 0 if it is not plain."""
    flag, has_inline, inline = (
        argv[i].partition("=") if argv[i].startswith("--") else (argv[i], "", "")
    )
    option = by_flag.get(flag)
    if option is None:
        return 0
    if option.kind == FLAG:
        if has_inline:
            return 0
        values[option.dest] = True
        return 1
    if has_inline:
        text, used = inline, 1
    elif i + 1 < len(argv) and not argv[i + 1].startswith("-"):
        text, used = argv[i + 1], 2
    else:
        return 0  # no value, or one that looks like an option: argparse says what it makes of it
    try:
        value = option.convert(text) if option.convert else text
    except Exception:
        return 0
    if option.kind == APPEND:
        appended = values[option.dest]
        if not isinstance(appended, list):
            return 0
        appended.append(value)
    else:
        values[option.dest] = value
    return used
