"""Routes of the main table: add one (a default route via a gateway, typically) and list them.

Builds RTM_*ROUTE messages; the round trips are `Netlink`'s. Inputs are checked before sending.
"""

from __future__ import annotations

import errno

from dockline.addr import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from dockline.errors import InvalidArgument, KernelError
from dockline.netlink import messages as m
from dockline.netlink.socket import Netlink, Request
from dockline.records import Record

IPNetwork = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address


class Route(Record):
    """A main-table unicast route; dst is 0.0.0.0/0 (or ::/0) for the default route."""

    dst: IPNetwork
    gateway: IPAddress | None
    oif: int | None
    table: int


def route_request(
    *, dst: IPNetwork | None, gateway: IPAddress | None, oif: int | None, exist_ok: bool = False
) -> Request:
    """The RTM_NEWROUTE for a main-table route (batched by configure_interface)."""
    version = _version(dst, gateway, oif)
    family = m.AF_INET if version == 4 else m.AF_INET6
    dst_len = dst.prefixlen if dst is not None else 0
    # No gateway: the destination is on the link itself.
    scope = m.RT_SCOPE_UNIVERSE if gateway is not None else m.RT_SCOPE_LINK
    header = m.RTMSG.pack(
        family, dst_len, 0, 0, m.RT_TABLE_MAIN, m.RTPROT_BOOT, scope, m.RTN_UNICAST, 0
    )
    attrs = m.attr(m.RTA_DST, dst.network_address.packed) if dst is not None and dst_len else b""
    attrs += m.attr(m.RTA_GATEWAY, gateway.packed) if gateway is not None else b""
    attrs += m.attr_u32(m.RTA_OIF, oif) if oif is not None else b""
    msg = m.message(m.RTM_NEWROUTE, m.NLM_F_CREATE | m.NLM_F_EXCL, header + attrs)
    target = f"{dst or 'default'}" + (f" via {gateway}" if gateway else "")
    target += f" dev ifindex {oif}" if oif is not None else ""
    return Request(msg, "add route", target, frozenset({errno.EEXIST}) if exist_ok else frozenset())


def _version(dst: IPNetwork | None, gateway: IPAddress | None, oif: int | None) -> int:
    what = f"route to {dst or 'default'} via {gateway}"
    if dst is not None and gateway is not None and dst.version != gateway.version:
        raise InvalidArgument("route", what, "destination and gateway differ in IP version")
    if gateway is None and oif is None:
        raise InvalidArgument("route", what, "needs a gateway or an output interface")
    if dst is None and gateway is None:
        raise InvalidArgument("route", what, "a default route needs a gateway to know its family")
    if dst is not None:
        return dst.version
    assert gateway is not None  # by the checks above
    return gateway.version


def add_route(
    nl: Netlink,
    *,
    dst: IPNetwork | None,
    gateway: IPAddress | None,
    oif: int | None = None,
    exist_ok: bool = False,
) -> None:
    """Add a main-table route (`dst` None: the default route), protocol boot like iproute2."""
    nl._request([route_request(dst=dst, gateway=gateway, oif=oif, exist_ok=exist_ok)])


def list_routes(nl: Netlink, family: int = m.AF_INET) -> list[Route]:
    """The unicast routes of the main table (the kernel filters the dump by table).

    A namespace where no route was ever added has no main table yet: the kernel then answers
    the filtered dump with ENOENT, which means "no routes".
    """
    header = m.RTMSG.pack(family, 0, 0, 0, m.RT_TABLE_MAIN, 0, 0, 0, 0)
    try:
        payloads = nl._dump(m.message(m.RTM_GETROUTE, 0, header), "list routes", f"family {family}")
    except KernelError as err:
        if err.errno == errno.ENOENT:
            return []
        raise
    routes = (_parse_route(p) for p in payloads)
    return [r for r in routes if r is not None]


def _parse_route(payload: bytes) -> Route | None:
    family, dst_len, _src, _tos, table, _proto, _scope, rtype, _flags = m.RTMSG.unpack_from(payload)
    attrs = m.parse_attrs(payload, m.RTMSG.size)
    table = m.get_u32(attrs, m.RTA_TABLE) or table
    if table != m.RT_TABLE_MAIN or rtype != m.RTN_UNICAST:
        return None
    zero = bytes(4 if family == m.AF_INET else 16)
    dst = ip_network((ip_address(attrs.get(m.RTA_DST, zero)), dst_len))
    raw_gateway = attrs.get(m.RTA_GATEWAY)
    return Route(
        dst=dst,
        gateway=ip_address(raw_gateway) if raw_gateway else None,
        oif=m.get_u32(attrs, m.RTA_OIF),
        table=table,
    )
