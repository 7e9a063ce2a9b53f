"""Container commands: run, ps, inspect, exec, stop, kill, rm, logs."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from dockline.cli.common import add_format, engine_from, paths_from
from dockline.cli.output import (
    human_age,
    print_json,
    print_json_lines,
    print_table,
    render_template,
    shorten,
)
from dockline.errors import DocklineError, ExitStatus, InvalidArgument, NotFound


def add_parsers(commands: Any, only: str | None) -> None:
    """Add the parser of command `only`, or of every command here when None."""
    for name, add in PARSERS.items():
        if only in (None, name):
            add(commands)


def _add_ps(commands: Any) -> None:
    ps = commands.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="show stopped containers too")
    ps.add_argument("-q", "--quiet", action="store_true", help="only IDs")
    add_format(ps)
    ps.set_defaults(handler=cmd_ps)


def _add_inspect(commands: Any) -> None:
    inspect = commands.add_parser("inspect", help="show containers (or networks) as JSON")
    inspect.add_argument("-f", "--format", help="a {{.Field.Path}} or {{json .Field}} template")
    inspect.add_argument("names", nargs="+", metavar="NAME")
    inspect.set_defaults(handler=cmd_inspect)


def _add_exec(commands: Any) -> None:
    ex = commands.add_parser("exec", help="run a command in a running container")
    ex.add_argument("name", metavar="CONTAINER")
    ex.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD")
    ex.set_defaults(handler=cmd_exec)


def _add_stop(commands: Any) -> None:
    stop = commands.add_parser("stop", help="stop containers (SIGTERM, then SIGKILL)")
    stop.add_argument("-t", "--time", type=float, default=10.0, help="seconds before SIGKILL")
    stop.add_argument("names", nargs="+", metavar="CONTAINER")
    stop.set_defaults(handler=cmd_stop)


def _add_kill(commands: Any) -> None:
    kill = commands.add_parser("kill", help="send a signal to containers")
    kill.add_argument("-s", "--signal", default="KILL", help="signal name or number")
    kill.add_argument("names", nargs="+", metavar="CONTAINER")
    kill.set_defaults(handler=cmd_kill)


def _add_rm(commands: Any) -> None:
    rm = commands.add_parser("rm", help="remove containers")
    rm.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    rm.add_argument("names", nargs="+", metavar="CONTAINER")
    rm.set_defaults(handler=cmd_rm)


def _add_logs(commands: Any) -> None:
    logs = commands.add_parser("logs", help="print a detached container's output")
    logs.add_argument("name", metavar="CONTAINER")
    logs.set_defaults(handler=cmd_logs)


def _add_run(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a command in a new container",
        add_help=False,
        description="Run CMD in new namespaces, with a network per --net.",
    )
    run.add_argument("--help", action="help", help="show this help message and exit")
    run.add_argument("--name", help="container name")
    run.add_argument(
        "--net",
        "--network",
        dest="net",
        default="bridge",
        help="bridge (default), host, none, or container:NAME_or_ID",
    )
    run.add_argument("--mac-address", dest="mac", help="MAC address of eth0 (bridge mode)")
    run.add_argument("--ip", help="IPv4 address of eth0 (bridge mode)")
    run.add_argument("-h", "--hostname", help="container host name")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background")
    run.add_argument(
        "-i",
        "--interactive",
        action="store_true",
        help="accepted for Docker habits: a foreground container always shares the caller's stdin",
    )
    run.add_argument(
        "-t",
        "--tty",
        action="store_true",
        help="accepted for Docker habits: a foreground container uses the caller's terminal",
    )
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run.add_argument("--rootfs", help="directory to use as the container's root file system")
    run.add_argument(
        "--privileged",
        action="store_true",
        help="keep every capability (the container may then reconfigure its network)",
    )
    run.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
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


def cmd_ps(args: argparse.Namespace) -> int:
    from dockline.runtime.state import is_running

    with engine_from(args) as engine, engine.store.transaction() as txn:
        containers = sorted(txn.list_containers(), key=lambda c: c.created, reverse=True)
    rows = []
    for c in containers:
        running = is_running(c)
        if not running and not args.all:
            continue
        status = f"Up {human_age(c.started)}" if running else _exited_status(c)
        rows.append(
            {
                "ID": c.id[:12],
                "Command": shorten(" ".join(c.command), 20),
                "CreatedAt": human_age(c.created) + " ago",
                "Status": status,
                "Networks": str(c.net_mode),
                "Names": c.name,
            }
        )
    if args.quiet:
        for row in rows:
            print(row["ID"])
    elif args.format == "json":
        print_json_lines(rows)
    elif args.format == "table":
        headers = ("CONTAINER ID", "COMMAND", "CREATED", "STATUS", "NETWORK", "NAMES")
        keys = ("ID", "Command", "CreatedAt", "Status", "Networks", "Names")
        print_table(
            headers, [[r[k] if k != "Command" else f'"{r[k]}"' for k in keys] for r in rows]
        )
    else:
        for row in rows:
            print(render_template(args.format, row))
    return 0


def _exited_status(container: Any) -> str:
    if container.state == "created":
        return "Created"
    return f"Exited ({container.exit_code}) {human_age(container.finished)} ago"


def cmd_inspect(args: argparse.Namespace) -> int:
    from dockline.inspect import container_object, network_object

    found: list[dict[str, Any]] = []
    missing: list[str] = []
    with engine_from(args) as engine, engine.store.transaction() as txn:
        for name in args.names:
            container = txn.get_container(name)
            if container is not None:
                found.append(container_object(txn, container))
            elif (net := txn.get_network(name)) is not None:
                found.append(network_object(txn, net))
            else:
                missing.append(name)
    _print_objects(found, args.format)
    for name in missing:
        print(f"dockline: no such object: {name}", file=sys.stderr)
    return 1 if missing else 0


def _print_objects(objects: list[dict[str, Any]], template: str | None) -> None:
    if template:
        for obj in objects:
            print(render_template(template, obj))
    else:
        print_json(objects)


def cmd_exec(args: argparse.Namespace) -> int:
    from dockline.runtime.control import exec_in

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        raise InvalidArgument("command", "''", "give the command to run")
    with engine_from(args) as engine:
        return exec_in(engine, args.name, command)


def _each(args: argparse.Namespace, act: Any) -> int:
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


def cmd_stop(args: argparse.Namespace) -> int:
    from dockline.runtime.control import stop

    return _each(args, lambda engine, name: stop(engine, name, timeout=args.time))


def cmd_kill(args: argparse.Namespace) -> int:
    from dockline.runtime.control import kill

    sig = parse_signal(args.signal)
    return _each(args, lambda engine, name: kill(engine, name, sig))


def parse_signal(text: str) -> int:
    if text.isdigit() and 0 < int(text) < signal.NSIG:
        return int(text)
    name = text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument("signal", text, "not a signal name or number") from None


def cmd_rm(args: argparse.Namespace) -> int:
    from dockline.runtime.control import remove

    return _each(args, lambda engine, name: remove(engine, name, force=args.force))


def cmd_logs(args: argparse.Namespace) -> int:
    from dockline.runtime.control import get
    from dockline.runtime.state import log_path

    with engine_from(args) as engine:
        container = get(engine, args.name)
        try:
            with open(log_path(engine.paths, container.id), "rb") as f:
                sys.stdout.buffer.write(f.read())
        except FileNotFoundError:
            raise NotFound("log of container", args.name) from None
    return 0


PARSERS = {
    "run": _add_run,
    "ps": _add_ps,
    "inspect": _add_inspect,
    "exec": _add_exec,
    "stop": _add_stop,
    "kill": _add_kill,
    "rm": _add_rm,
    "logs": _add_logs,
}
