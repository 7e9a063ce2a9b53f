"""Rows <-> records for the SQLite store: one pair of functions per table.

Pure conversion, no queries: addresses are stored as text, a container's command as JSON
(json is imported only for container rows; an attach never needs it).
"""

from __future__ import annotations

from dockline.addr import IPv4Address, IPv4Network, ip_address, ip_interface
from dockline.model import Container, Endpoint, NetMode, NetnsRef, Network
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")


def opt(parse: Callable[[str], T], value: str | None) -> T | None:
    return None if value is None else parse(value)


def opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def row_to_network(row: sqlite3.Row) -> Network:
    return Network(
        id=row["id"],
        name=row["name"],
        driver=row["driver"],
        bridge=row["bridge"],
        subnet=IPv4Network(row["subnet"]),
        gateway=IPv4Address(row["gateway"]),
        ip_range=opt(IPv4Network, row["ip_range"]),
        default_gateway=opt(IPv4Address, row["default_gateway"]),
        mtu=row["mtu"],
        managed_bridge=bool(row["managed_bridge"]),
        created=row["created"],
    )


def network_params(n: Network) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.name,
        "driver": n.driver,
        "bridge": n.bridge,
        "subnet": str(n.subnet),
        "gateway": str(n.gateway),
        "ip_range": opt_str(n.ip_range),
        "default_gateway": opt_str(n.default_gateway),
        "mtu": n.mtu,
        "managed_bridge": int(n.managed_bridge),
        "created": n.created,
    }


def row_to_container(row: sqlite3.Row) -> Container:
    return Container(
        id=row["id"],
        name=row["name"],
        net_mode=NetMode(row["net_mode"], row["net_target"]),
        command=tuple(json().loads(row["command"])),
        state=row["state"],
        pid=row["pid"],
        pid_start=row["pid_start"],
        monitor_pid=row["monitor_pid"],
        monitor_start=row["monitor_start"],
        hostname=row["hostname"],
        rootfs=row["rootfs"],
        privileged=bool(row["privileged"]),
        auto_remove=bool(row["auto_remove"]),
        exit_code=row["exit_code"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        requested_ip=opt(IPv4Address, row["requested_ip"]),
        requested_mac=row["requested_mac"],
        sandbox_key=row["sandbox_key"],
        env=tuple((k, v) for k, v in json().loads(row["env"])),
    )


def container_params(c: Container) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "net_mode": c.net_mode.kind,
        "net_target": c.net_mode.target,
        "command": json().dumps(list(c.command)),
        "env": json().dumps([list(pair) for pair in c.env]),
        "state": c.state,
        "pid": c.pid,
        "pid_start": c.pid_start,
        "monitor_pid": c.monitor_pid,
        "monitor_start": c.monitor_start,
        "hostname": c.hostname,
        "rootfs": c.rootfs,
        "privileged": int(c.privileged),
        "auto_remove": int(c.auto_remove),
        "exit_code": c.exit_code,
        "created": c.created,
        "started": c.started,
        "finished": c.finished,
        "requested_ip": opt_str(c.requested_ip),
        "requested_mac": c.requested_mac,
        "sandbox_key": c.sandbox_key,
    }


def row_to_endpoint(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        id=row["id"],
        network_id=row["network_id"],
        netns=NetnsRef(
            path=row["netns_path"],
            dev=row["netns_dev"],
            ino=row["netns_ino"],
            pid=row["netns_pid"],
            pid_start=row["netns_pid_start"],
        ),
        ifname=row["ifname"],
        host_ifname=row["host_ifname"],
        mac=row["mac"],
        addresses=tuple(ip_interface(a) for a in row["addresses"].split()),
        gateway=opt(ip_address, row["gateway"]),
        container_id=row["container_id"],
        netns_link=row["netns_link"],
        created=row["created"],
    )


def endpoint_params(e: Endpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "network_id": e.network_id,
        "container_id": e.container_id,
        "netns_path": e.netns.path,
        "netns_dev": e.netns.dev,
        "netns_ino": e.netns.ino,
        "netns_pid": e.netns.pid,
        "netns_pid_start": e.netns.pid_start,
        "ifname": e.ifname,
        "host_ifname": e.host_ifname,
        "mac": e.mac,
        "addresses": " ".join(str(a) for a in e.addresses),  # no JSON on the attach path
        "gateway": opt_str(e.gateway),
        "netns_link": e.netns_link,
        "created": e.created,
    }


def json() -> Any:
    """json, imported only for container rows: an attach never needs it (~2 ms of start-up)."""
    import json

    return json
