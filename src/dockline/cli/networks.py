"""Network commands (`network connect|disconnect|ls|inspect`) and `gc`."""

from __future__ import annotations

from dockline.cli.common import FORMAT, INSPECT_FORMAT, NO_TRUNC, QUIET, engine_from
from dockline.cli.grammar import APPEND, SOME, Args, Command, Option, Positional, bad_value
from dockline.errors import NotFound
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockline.model import Network


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise bad_value("pid", text, "a positive integer")
    return int(text)


def _gc_format(text: str) -> str:
    """Checked when the command line is read, so a bad value stops gc before it does anything."""
    if text not in ("table", "json"):
        raise bad_value("format", text, "'table' or 'json'")
    return text


GC_FORMAT = Option(
    ("--format",), "format", "'table' (default) or 'json'", default="table", convert=_gc_format
)


def cmd_connect(args: Args) -> int:
    from dockline import ipam

    ip = ipam.parse_ipv4(args.ip) if args.ip else None
    mac = ipam.parse_mac(args.mac) if args.mac else None
    with engine_from(args) as engine:
        endpoint = engine.connect(
            args.network, pid=args.pid, netns_path=args.netns, ifname=args.ifname, ip=ip, mac=mac
        )
    address = endpoint.addresses[0] if endpoint.addresses else ""
    print(
        f"{endpoint.ifname} {address} {endpoint.mac} via {endpoint.gateway} "
        f"(host side {endpoint.host_ifname})"
    )
    return 0


def cmd_disconnect(args: Args) -> int:
    with engine_from(args) as engine:
        engine.disconnect(args.network, pid=args.pid, netns_path=args.netns)
    return 0


def _ls_tests(n: Network) -> dict[str, Callable[[str], bool]]:
    """What each `network ls --filter` key tests, as Docker's: all or part of a name or ID."""
    return {
        "id": lambda value: value in n.id,
        "name": lambda value: value in n.name,
        "driver": lambda value: value == n.driver,
        "scope": lambda value: value == "local",
    }


# `network ls` fields and their column names: Docker's, then dockline's addresses and bridge.
LS_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
    "Subnet": "SUBNET",
    "Gateway": "GATEWAY",
    "Bridge": "BRIDGE",
}
LS_TABLE = ("ID", "Name", "Driver", "Scope", "Subnet", "Gateway", "Bridge")


def cmd_ls(args: Args) -> int:
    from dockline.cli.filters import ANY, matches, parse_filters
    from dockline.cli.output import local_time, print_listing

    keys = {"id": ANY, "name": ANY, "driver": ANY, "scope": ANY}
    filters = parse_filters(args.filter, keys)
    with engine_from(args) as engine:
        engine.network()  # the default network exists once dockline has been used
        networks = [n for n in engine.networks() if matches(filters, _ls_tests(n))]
    rows = [
        {
            "ID": n.id if args.no_trunc else n.id[:12],
            "Name": n.name,
            "Driver": n.driver,
            "Scope": "local",
            "IPv6": "false",
            "Internal": "false",
            "Labels": "",
            "CreatedAt": local_time(n.created),
            "Subnet": str(n.subnet),
            "Gateway": str(n.gateway),
            "Bridge": n.bridge,
        }
        for n in networks
    ]
    print_listing(rows, args.format, LS_HEADERS, LS_TABLE, quiet=args.quiet)
    return 0


def cmd_inspect(args: Args) -> int:
    """As Docker's: the networks found, then an error line for each one that is not (exit 1)."""
    import sys

    from dockline.cli.output import print_objects
    from dockline.inspect import network_object

    with engine_from(args) as engine:
        if "bridge" in args.names:
            engine.network()
        with engine.store.transaction() as txn:
            found = [(name, txn.get_network(name)) for name in args.names]
            objects = [network_object(txn, net) for _, net in found if net is not None]
    print_objects(objects, args.format)
    missing = [name for name, net in found if net is None]
    for name in missing:
        print(f"dockline: {NotFound('network', name)}", file=sys.stderr)
    return 1 if missing else 0


def cmd_gc(args: Args) -> int:
    from dockline.cli.output import print_json_lines

    with engine_from(args) as engine:
        report = engine.gc()
    summary = {
        "Containers": report.containers,
        "Endpoints": report.endpoints,
        "Links": report.links,
        "NetnsLinks": report.netns_links,
        "Errors": report.errors,
    }
    if args.format == "json":
        print_json_lines([summary])
    else:
        for key, items in summary.items():
            print(f"{key}: {len(items)}" + (f" ({', '.join(items)})" if items else ""))
    return 1 if report.errors else 0


TARGET = (
    Option(("--pid",), "pid", "a process in the namespace", convert=_pid),
    Option(("--netns",), "netns", "path of the namespace (e.g. /run/netns/NAME)"),
)
NETWORK = Positional("network", "NETWORK")

COMMANDS = (
    Command(
        ("network", "connect"),
        "attach a process's or a path's network namespace",
        cmd_connect,
        options=(
            *TARGET,
            Option(("--ip",), "ip", "IPv4 address (default: the next free one)"),
            Option(("--mac-address",), "mac", "MAC (default: derived from the IP)"),
            Option(("--ifname",), "ifname", "interface name inside (default eth0)", default="eth0"),
        ),
        positionals=(NETWORK,),
        one_of=("pid", "netns"),
    ),
    Command(
        ("network", "disconnect"),
        "undo connect",
        cmd_disconnect,
        options=TARGET,
        positionals=(NETWORK,),
        one_of=("pid", "netns"),
    ),
    Command(
        ("network", "ls"),
        "list networks",
        cmd_ls,
        options=(
            Option(
                ("-f", "--filter"),
                "filter",
                "KEY=VALUE, repeated: id, name (all or part of it), driver, scope",
                APPEND,
            ),
            NO_TRUNC,
            QUIET,
            FORMAT,
        ),
    ),
    Command(
        ("network", "inspect"),
        "show networks as JSON",
        cmd_inspect,
        options=(INSPECT_FORMAT,),
        positionals=(Positional("names", "NETWORK", SOME),),
    ),
    Command(
        ("gc",), "remove what crashed containers and processes left", cmd_gc, options=(GC_FORMAT,)
    ),
)
