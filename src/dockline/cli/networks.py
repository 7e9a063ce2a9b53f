"""Network commands (`network connect|disconnect|ls|inspect`) and `gc`."""

from __future__ import annotations

import argparse
from typing import Any

from dockline.cli.common import add_format, engine_from
from dockline.cli.output import print_json, print_json_lines, print_table, render_template
from dockline.errors import InvalidArgument, NotFound


def add_parsers(commands: Any, only: str | None) -> None:
    """Add the parser of command `only`, or of every command here when None."""
    if only in (None, "network"):
        _add_network(commands)
    if only in (None, "gc"):
        gc = commands.add_parser("gc", help="remove what crashed containers and processes left")
        add_format(gc)
        gc.set_defaults(handler=cmd_gc)


def _add_network(commands: Any) -> None:
    network = commands.add_parser("network", help="manage networks and attach namespaces")
    sub = network.add_subparsers(
        dest="network_command", metavar="COMMAND", parser_class=type(network)
    )
    sub.required = True
    connect = sub.add_parser("connect", help="attach a process's or a path's network namespace")
    _add_target(connect)
    connect.add_argument("--ip", help="IPv4 address (default: the next free one)")
    connect.add_argument("--mac-address", dest="mac", help="MAC (default: derived from the IP)")
    connect.add_argument("--ifname", default="eth0", help="interface name inside (default eth0)")
    connect.set_defaults(handler=cmd_connect)
    disconnect = sub.add_parser("disconnect", help="undo connect")
    _add_target(disconnect)
    disconnect.set_defaults(handler=cmd_disconnect)
    ls = sub.add_parser("ls", help="list networks")
    add_format(ls)
    ls.set_defaults(handler=cmd_ls)
    inspect = sub.add_parser("inspect", help="show networks as JSON")
    inspect.add_argument("-f", "--format", help="a {{.Field.Path}} template")
    inspect.add_argument("names", nargs="+", metavar="NETWORK")
    inspect.set_defaults(handler=cmd_inspect)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", metavar="NETWORK")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=_pid, help="a process in the namespace")
    target.add_argument("--netns", help="path of the namespace (e.g. /run/netns/NAME)")


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"invalid pid {text!r}: expected a positive integer")
    return int(text)


def cmd_connect(args: argparse.Namespace) -> int:
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


def cmd_disconnect(args: argparse.Namespace) -> int:
    with engine_from(args) as engine:
        engine.disconnect(args.network, pid=args.pid, netns_path=args.netns)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    with engine_from(args) as engine:
        engine.network()  # the default network exists once dockline has been used
        networks = engine.networks()
    rows = [
        {
            "ID": n.id[:12],
            "Name": n.name,
            "Driver": n.driver,
            "Scope": "local",
            "Subnet": str(n.subnet),
            "Gateway": str(n.gateway),
            "Bridge": n.bridge,
        }
        for n in networks
    ]
    if args.format == "json":
        print_json_lines(rows)
    elif args.format == "table":
        keys = ("ID", "Name", "Driver", "Scope", "Subnet", "Gateway", "Bridge")
        print_table(
            ("NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET", "GATEWAY", "BRIDGE"),
            [[r[k] for k in keys] for r in rows],
        )
    else:
        for row in rows:
            print(render_template(args.format, row))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from dockline.inspect import network_object

    with engine_from(args) as engine:
        if "bridge" in args.names:
            engine.network()
        with engine.store.transaction() as txn:
            objects = []
            for name in args.names:
                network = txn.get_network(name)
                if network is None:
                    raise NotFound("network", name)
                objects.append(network_object(txn, network))
    if args.format:
        for obj in objects:
            print(render_template(args.format, obj))
    else:
        print_json(objects)
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
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
    elif args.format != "table":
        raise InvalidArgument("format", args.format, "gc takes 'table' or 'json'")
    else:
        for key, items in summary.items():
            print(f"{key}: {len(items)}" + (f" ({', '.join(items)})" if items else ""))
    return 1 if report.errors else 0
