"""Container commands: run, ps, inspect, exec, stop, kill, rm, logs."""

from __future__ import annotations

import os
import sys

from dockline.cli.common import (
    FORMAT,
    INSPECT_FORMAT,
    NO_TRUNC,
    QUIET,
    engine_from,
    paths_from,
)
from dockline.cli.grammar import (
    APPEND,
    FLAG,
    REST,
    SOME,
    Args,
    Command,
    Option,
    Positional,
    bad_value,
)
from dockline.cli.output import (
    human_age,
    local_time,
    print_listing,
    print_objects,
    shorten,
)
from dockline.errors import DocklineError, ExitStatus, InvalidArgument, NotFound
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO


def cmd_run(args: Args) -> int:
    from dockline.runtime.spec import build_spec

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    try:
        spec = build_spec(
            command,
            name=args.name,
            net=args.net,
            hostname=args.hostname,
            rootfs=args.rootfs,
            privileged=args.privileged,
            auto_remove=args.rm,
            ip=args.ip,
            mac=args.mac,
            env=args.env,
        )
        if args.detach:
            from dockline.runtime.monitor import run_detached

            run_detached(paths_from(args), spec, None)
            print(spec.id)
            return 0
        from dockline.runtime.supervise import supervise

        with engine_from(args) as engine:
            return supervise(engine, spec)
    except DocklineError as err:
        if err.exit_status == ExitStatus.ERROR:
            err.exit_status = ExitStatus.DOCKLINE  # `docker run` fails with 125
        raise


# `ps` fields and their column names, as Docker's (its --format json has the same keys, so
# templates written for `docker ps` find every field; those dockline has no value for are empty).
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}
PS_TABLE = ("ID", "Command", "RunningFor", "Status", "Networks", "Names")


def cmd_ps(args: Args) -> int:
    from dockline.cli.filters import ANY, DOCKER_STATUSES, matches, parse_filters
    from dockline.runtime.state import is_running, status_word

    keys = {"id": ANY, "name": ANY, "status": DOCKER_STATUSES, "network": ANY}
    filters = parse_filters(args.filter, keys, patterns=("name",))
    with engine_from(args) as engine, engine.store.transaction() as txn:
        containers = sorted(txn.list_containers(), key=lambda c: c.created, reverse=True)
    last = 1 if args.latest else args.last or 0  # the last N created, in every state
    rows = []
    for c in containers:
        state = status_word(c, is_running(c))
        if not (state == "running" or args.all or last > 0 or "status" in filters):
            continue
        if not matches(filters, _ps_tests(c, state)):
            continue
        rows.append(_ps_row(c, state, full=args.no_trunc))
    if last > 0:  # N <= 0: no limit, as Docker's default of -1
        rows = rows[:last]
    print_listing(rows, args.format, PS_HEADERS, PS_TABLE, quiet=args.quiet)
    return 0


def _ps_row(c: Any, state: str, *, full: bool) -> dict[str, str]:
    """Container `c` as `ps` shows it: Docker's fields, IDs and commands cut unless `full`."""
    command = " ".join(c.command)
    return {
        "ID": c.id if full else c.id[:12],
        "Image": c.rootfs or "",  # no images: the root directory given with --rootfs
        "Command": _quoted(command if full else shorten(command, 20)),
        "CreatedAt": local_time(c.created),
        "RunningFor": human_age(c.created) + " ago",
        "Ports": "",
        "State": state,
        "Status": f"Up {human_age(c.started)}" if state == "running" else _exited_status(c),
        "Size": "",
        "Names": c.name,
        "Labels": "",
        "Mounts": "",
        "Networks": str(c.net_mode),
        "LocalVolumes": "0",
    }


def _ps_tests(c: Any, state: str) -> dict[str, Callable[[str], bool]]:
    """What each `ps --filter` key tests of container `c`, as Docker's."""
    from dockline.cli.filters import name_matches

    return {
        "id": lambda value: value in c.id,  # Docker: all or part of the ID
        "name": lambda value: name_matches(value, c.name),
        "status": lambda value: value == state,
        "network": lambda value: value == str(c.net_mode) and c.net_mode.kind != "container",
    }


def _quoted(text: str) -> str:
    """As Go's strconv.Quote, which Docker applies to the command it shows."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _exited_status(container: Any) -> str:
    if container.state == "created":
        return "Created"
    return f"Exited ({container.exit_code}) {human_age(container.finished)} ago"


def cmd_inspect(args: Args) -> int:
    from dockline.inspect import container_object, network_object

    found: list[dict[str, Any]] = []
    missing: list[str] = []
    with engine_from(args) as engine, engine.store.transaction() as txn:
        for name in args.names:
            container = txn.get_container(name) if args.type != "network" else None
            net = txn.get_network(name) if container is None and args.type != "container" else None
            if container is not None:
                found.append(container_object(txn, container))
            elif net is not None:
                found.append(network_object(txn, net))
            else:
                missing.append(name)
    print_objects(found, args.format)
    for name in missing:
        print(f"dockline: no such {args.type or 'object'}: {name}", file=sys.stderr)
    return 1 if missing else 0


def cmd_exec(args: Args) -> int:
    from dockline.runtime.control import exec_in

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        raise InvalidArgument("command", "''", "give the command to run")
    with engine_from(args) as engine:
        return exec_in(engine, args.name, command)


def _each(args: Args, act: Any) -> int:
    """Apply to every named container; report each failure; exit 1 if any failed (as Docker)."""
    failed = False
    with engine_from(args) as engine:
        for name in args.names:
            try:
                act(engine, name)
                print(name)
            except DocklineError as err:
                print(f"dockline: {err}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


def cmd_stop(args: Args) -> int:
    from dockline.runtime.control import stop

    return _each(args, lambda engine, name: stop(engine, name, timeout=args.time))


def cmd_kill(args: Args) -> int:
    from dockline.runtime.control import kill

    sig = parse_signal(args.signal)
    return _each(args, lambda engine, name: kill(engine, name, sig))


def parse_signal(text: str) -> int:
    import signal  # `signal` imports `enum`: only `kill` needs its names

    if text.isdigit() and 0 < int(text) < signal.NSIG:
        return int(text)
    name = text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument("signal", text, "not a signal name or number") from None


def cmd_rm(args: Args) -> int:
    from dockline.runtime.control import remove

    return _each(args, lambda engine, name: remove(engine, name, force=args.force))


def cmd_logs(args: Args) -> int:
    from dockline.runtime.control import get, open_pidfd
    from dockline.runtime.state import is_running, log_path

    with engine_from(args) as engine:
        container = get(engine, args.name)
        try:
            log = open(log_path(engine.paths, container.id), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound("log of container", args.name) from None
    with log:
        out = sys.stdout.buffer
        out.write(_last_lines(log.read(), args.tail))
        if args.follow and is_running(container):
            _follow(log, open_pidfd(container.pid, container.pid_start), out)
    return 0


def _last_lines(data: bytes, count: int | None) -> bytes:
    """The last `count` lines of `data` (all of it for None), as `--tail` shows them."""
    if count is None:
        return data
    return b"".join(data.splitlines(keepends=True)[-count:]) if count else b""


def _follow(log: BinaryIO, pidfd: int | None, out: BinaryIO) -> None:
    """Copy what the container writes until it exits, then what it wrote last.

    Its pidfd becomes readable when it exits, so a select on it both paces the copying (every
    0.1 s) and ends it at once; no pidfd means it is already gone.
    """
    import select

    if pidfd is None:
        out.write(log.read())
        return
    try:
        exited: list[int] = []
        while not exited:
            out.flush()
            exited = select.select([pidfd], [], [], 0.1)[0]
            out.write(log.read())
    finally:
        os.close(pidfd)


def _tail(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise bad_value("tail", text, "a number of lines or 'all'")
    return int(text)


def _object_type(text: str) -> str:
    if text not in ("container", "network"):
        raise bad_value("type", text, "'container' or 'network'")
    return text


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_value("last", text, "a number") from None


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise bad_value("time", text, "seconds") from None


# Docker habits (`run -it`, `exec -it`): a command in the foreground always has the caller's
# stdin and terminal, so both are accepted and change nothing.
INTERACTIVE = Option(
    ("-i", "--interactive"),
    "interactive",
    "accepted for Docker habits: in the foreground the command always shares the caller's stdin",
    FLAG,
)
TTY = Option(
    ("-t", "--tty"),
    "tty",
    "accepted for Docker habits: in the foreground the command uses the caller's terminal",
    FLAG,
)
CONTAINERS = Positional("names", "CONTAINER", SOME)
NAMES = Positional("names", "NAME", SOME)

COMMANDS = (
    Command(
        ("run",),
        "run a command in a new container",
        cmd_run,
        description="Run CMD in new namespaces, with a network per --net.",
        help_flags=("--help",),  # -h is --hostname, as in Docker
        options=(
            Option(("--name",), "name", "container name"),
            Option(
                ("--net", "--network"),
                "net",
                "bridge (default), host, none, or container:NAME_or_ID",
                default="bridge",
            ),
            Option(("--mac-address",), "mac", "MAC address of eth0 (bridge mode)"),
            Option(("--ip",), "ip", "IPv4 address of eth0 (bridge mode)"),
            Option(("-h", "--hostname"), "hostname", "container host name"),
            Option(("-d", "--detach"), "detach", "run in the background", FLAG),
            INTERACTIVE,
            TTY,
            Option(("--rm",), "rm", "remove the container when it exits", FLAG),
            Option(("--rootfs",), "rootfs", "directory to use as the container's root file system"),
            Option(
                ("--privileged",),
                "privileged",
                "keep every capability (the container may then reconfigure its network)",
                FLAG,
            ),
            Option(("-e", "--env"), "env", "KEY=VALUE", APPEND),
        ),
        positionals=(Positional("cmd", "-- CMD [ARG...]", REST),),
    ),
    Command(
        ("ps",),
        "list containers",
        cmd_ps,
        options=(
            Option(("-a", "--all"), "all", "show stopped containers too", FLAG),
            Option(
                ("-f", "--filter"),
                "filter",
                "KEY=VALUE, repeated: id (part of it), name (a regular expression), "
                "status (created, running, exited, ...), network",
                APPEND,
            ),
            Option(
                ("-n", "--last"),
                "last",
                "the N last created containers (in every state)",
                convert=_count,
                metavar="N",
            ),
            Option(("-l", "--latest"), "latest", "the last created container", FLAG),
            NO_TRUNC,
            QUIET,
            FORMAT,
        ),
    ),
    Command(
        ("inspect",),
        "show containers (or networks) as JSON",
        cmd_inspect,
        options=(
            INSPECT_FORMAT,
            Option(
                ("--type",),
                "type",
                "container or network: look only for that",
                convert=_object_type,
            ),
        ),
        positionals=(NAMES,),
    ),
    Command(
        ("exec",),
        "run a command in a running container",
        cmd_exec,
        options=(INTERACTIVE, TTY),
        positionals=(Positional("name", "CONTAINER"), Positional("cmd", "CMD", REST)),
    ),
    Command(
        ("stop",),
        "stop containers (SIGTERM, then SIGKILL)",
        cmd_stop,
        options=(
            Option(
                ("-t", "--time", "--timeout"),
                "time",
                "seconds before SIGKILL (negative: wait as long as it takes)",
                default=10.0,
                convert=_seconds,
            ),
        ),
        positionals=(CONTAINERS,),
    ),
    Command(
        ("kill",),
        "send a signal to containers",
        cmd_kill,
        options=(Option(("-s", "--signal"), "signal", "signal name or number", default="KILL"),),
        positionals=(CONTAINERS,),
    ),
    Command(
        ("rm",),
        "remove containers",
        cmd_rm,
        options=(Option(("-f", "--force"), "force", "kill a running container first", FLAG),),
        positionals=(CONTAINERS,),
    ),
    Command(
        ("logs",),
        "print a detached container's output",
        cmd_logs,
        options=(
            Option(("-f", "--follow"), "follow", "go on printing until the container exits", FLAG),
            Option(
                ("-n", "--tail"),
                "tail",
                "only the last N lines ('all')",
                default=None,
                convert=_tail,
            ),
        ),
        positionals=(Positional("name", "CONTAINER"),),
    ),
)
