"""The fast command-line parser agrees with argparse, and hands everything else to it.

`grammar.parse` reads plain command lines; argparse (`cli.usage`, built from the same
declarations) reads the rest. For every plain line both must produce the same arguments; for
anything else the fast parser must give up (None), so that argparse prints help or the error.
"""

from __future__ import annotations

import pytest

from dockline.cli import usage
from dockline.cli.grammar import command_words, parse
from dockline.cli.main import MODULES, commands_of, parse_command_line

ALL = tuple(c for m in dict.fromkeys(MODULES.values()) for c in commands_of(m))

PLAIN = [
    "network connect bridge --pid 42",
    "network connect bridge --pid=42 --ip 172.17.0.9 --mac-address 02:42:ac:11:00:09",
    "--root /tmp/r --run-root=/tmp/rr network connect --netns /run/netns/x mynet --ifname e1",
    "--config /etc/d.json network disconnect bridge --pid 7",
    "network disconnect --netns /run/netns/a bridge",
    "network ls",
    "network ls --format json",
    "network ls -q",
    "network inspect bridge other",
    "network inspect -f {{.Name}} bridge",
    "gc --format json",
    "run --rm -- true",
    "run --rm -d --name web --net host -e A=1 -e B=2 -- sleep 1",
    "run --network=container:web -h box --ip 10.0.0.5 --mac-address 02:00:00:00:00:01 true",
    "run --privileged --rootfs /srv/root -i -t -- sh -c 'echo hi'",
    "run sh -c --name",
    "run",
    "ps",
    "ps -a -q",
    "ps --format {{.Names}}",
    "inspect a b c",
    "inspect -f {{json .State}} a",
    "exec web -- ip addr",
    "exec web ls -l",
    "exec web -- -x --y",
    "exec web -- -- x",
    "exec -i -t web sh",
    "exec -t web -- sh -i",
    "exec web ls -i",  # after the container, -i is the command's
    "stop -t 3 a b",
    "stop a b --time 0.5",
    "stop --timeout 3 a",
    "kill -s TERM a",
    "kill a",
    "rm -f a b",
    "rm a -f",
    "logs web",
    "logs -f web",
    "logs --tail 5 web",
    "logs -n all -f web",
    "ps -a -f status=exited -f name=^/w --no-trunc -n 3",
    "ps --filter=network=bridge -l --format table",
    "network ls -f driver=bridge --no-trunc",
    "inspect --type network -f {{.Id}} bridge",
    "version",
    "version -f json",
]

NOT_PLAIN = [
    "network connect bridge",  # neither --pid nor --netns
    "network connect bridge --pid 1 --netns /x",  # both
    "network connect bridge --pid zero",  # conversion fails
    "network connect bridge --pid",  # no value
    "network connect bridge --pi 1",  # abbreviation: argparse's call
    "network connect --pid 1",  # no network
    "network connect a b --pid 1",  # one positional too many
    "network connect bridge --pid 1 --help",
    "network connect bridge --pid 1 -h",
    "network connect bridge --pid 1 --ip -1",  # a value that looks like an option
    "network",
    "network frobnicate",
    "run --help",
    "run -dt -- true",  # grouped short flags
    "exec -it web sh",  # grouped: argparse's call (it takes them)
    "run --rm=yes -- true",
    "stop -t soon a",
    "rm",
    "rm -- a",
    "logs web -- x",
    "logs --tail x web",  # conversion fails
    "ps -n many",  # conversion fails
    "inspect --type volume x",  # not a type dockline has
    "--version",
    "-v",
    "--root",
    "--bogus ps",
    "frobnicate",
    "",
]


def split(line: str) -> list[str]:
    import shlex

    return shlex.split(line)


def by_argparse(argv: list[str]) -> dict[str, object]:
    args = usage.parse_args(argv, ALL)
    return {k: v for k, v in vars(args).items() if not k.endswith("command")}


@pytest.mark.parametrize("line", PLAIN)
def test_plain_lines_parse_as_argparse_parses_them(line: str) -> None:
    argv = split(line)
    fast = parse_command_line(argv)
    start, words = command_words(argv)
    assert vars(fast) == by_argparse(argv), line
    assert words, line
    assert start <= len(argv)


@pytest.mark.parametrize("line", NOT_PLAIN)
def test_the_rest_is_left_to_argparse(line: str) -> None:
    argv = split(line)
    start, words = command_words(argv)
    for command in ALL:
        if list(command.words) == words[: len(command.words)]:
            assert parse(argv, start, command) is None, (line, command.words)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("network connect bridge", "one of the arguments --pid --netns is required"),
        ("network connect bridge --pid zero", "invalid pid 'zero': expected a positive integer"),
        ("stop -t soon a", "invalid time 'soon': expected seconds"),
        ("inspect --type volume x", "invalid type 'volume': expected 'container' or 'network'"),
        ("rm", "dockline rm: the following arguments are required: CONTAINER"),
        ("frobnicate", "dockline: argument COMMAND: invalid choice: 'frobnicate'"),
        ("ps --al", "dockline ps: unknown flag: --al"),  # no abbreviations, as Docker's CLI
        ("ps --bogus=1", "dockline ps: unknown flag: --bogus (see 'dockline ps --help')"),
        ("ps extra", "dockline ps: unexpected argument 'extra'"),
        ("--bogus", "dockline: unknown flag: --bogus (see 'dockline --help')"),
        ("network --bogus", "dockline network: unknown flag: --bogus"),
        ("network connect bridge --pi 1", "one of the arguments --pid --netns is required"),
    ],
)
def test_argparse_reports_usage_errors_with_exit_125(
    line: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line, as any bad input: naming the bad argument and the command it was given to,
    and where that command's usage is (Docker's CLI: "See 'docker ps --help'.")."""
    code, out, err = exit_of(split(line), capsys)
    assert code == 125
    assert message in err
    assert err.count("\n") == 1 and err.endswith("--help')\n") and out == "", err


def exit_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    """A command line on which argparse exits: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        parse_command_line(argv)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = exit_of(["--help"], capsys)
    assert code == 0
    for word in MODULES:
        assert word in out


@pytest.mark.parametrize(
    ("line", "shows"), [("", "network"), ("--root /tmp/x", "network"), ("network", "connect")]
)
def test_no_command_prints_the_help_and_exits_0(
    line: str, shows: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Docker's CLI: `dockline` alone, or a group's word alone, is a request for help."""
    code, out, _ = exit_of(split(line), capsys)
    assert code == 0 and shows in out


def test_run_keeps_h_for_hostname_and_help_for_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_command_line(["run", "-h", "box", "true"]).hostname == "box"
    with pytest.raises(SystemExit):
        parse_command_line(["run", "--help"])
    assert "--hostname" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_flag_prints_the_package_version(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockline import __version__

    with pytest.raises(SystemExit) as exited:
        parse_command_line([flag])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"dockline version {__version__}\n"


def test_version_command_tells_what_it_runs_on(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import os

    from dockline import __version__
    from dockline.cli.main import main

    assert main(["version", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["Version"] == __version__ and info["KernelVersion"] == os.uname().release
    assert main(["version", "-f", "{{.Version}}"]) == 0
    assert capsys.readouterr().out == __version__ + "\n"
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith(f"dockline version {__version__}\n PythonVersion: ")
