"""Links: read them, create bridges and veth pairs, bring them up, delete them (also in bulk).

Builds RTM_*LINK messages and turns replies into `Link`s; the round trips are `Netlink`'s.
A veth peer is born in its target namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER), so there is
never a half-moved pair to undo. Names are checked before any request is sent.
"""

from __future__ import annotations

import errno
import os

from dockline.errors import Conflict, InvalidArgument, KernelError
from dockline.netlink import messages as m
from dockline.netlink.socket import Netlink, Request
from dockline.records import TYPE_CHECKING, Record

if TYPE_CHECKING:
    from collections.abc import Sequence

_IFNAMSIZ = 16
_EXT_MASK = m.attr_u32(m.IFLA_EXT_MASK, m.RTEXT_FILTER_SKIP_STATS)
_MISSING = frozenset({errno.ENODEV})
_ONE_QUEUE = m.attr_u32(m.IFLA_NUM_TX_QUEUES, 1) + m.attr_u32(m.IFLA_NUM_RX_QUEUES, 1)
# addrgenmode none: no automatic IPv6 (link-local) address when the link gets its carrier.
_NO_LINK_LOCAL = m.nested(
    m.IFLA_AF_SPEC,
    m.nested(m.AF_INET6, m.attr(m.IFLA_INET6_ADDR_GEN_MODE, bytes([m.IN6_ADDR_GEN_MODE_NONE]))),
)
# The kernel refuses AF_INET6 settings for a link without IPv6 (an MTU below 1280, or a kernel
# booted with ipv6.disable=1): such a link gets no link-local address either, so that is success.
_NO_IPV6 = frozenset({errno.EAFNOSUPPORT})


class Link(Record):
    """A network interface as the kernel reports it."""

    # `index` shadows tuple.index on purpose: it is the kernel's name for the field.
    index: int  # type: ignore[assignment]
    name: str
    kind: str | None  # IFLA_INFO_KIND: "veth", "bridge", ...; None for lo and physical NICs
    master: int | None
    mac: str  # lower-case "aa:bb:..."
    mtu: int
    up: bool  # administratively up (IFF_UP), whatever the carrier
    peer_index: int | None  # IFLA_LINK: the veth peer's index (in peer_netnsid's netns if set)
    peer_netnsid: int | None  # IFLA_LINK_NETNSID
    group: int


def validate_ifname(name: str) -> None:
    """Reject names the kernel would refuse, before anything is sent."""
    # Of the characters isspace() knows, only " " is printable: three `in` tests, no loop.
    if (
        not 0 < len(name.encode()) < _IFNAMSIZ
        or name in (".", "..")
        or not name.isprintable()
        or "/" in name
        or ":" in name
        or " " in name
    ):
        why = "must be 1 to 15 bytes, not '.' or '..', without '/', ':' or whitespace"
        raise InvalidArgument("interface name", repr(name), why)


def _mac_bytes(mac: str) -> bytes:
    try:
        raw = bytes.fromhex(mac.replace(":", "")) if len(mac) == 17 else b""
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise InvalidArgument("MAC address", mac, "expected six hex bytes like aa:bb:cc:dd:ee:ff")
    return raw


def _ifinfo(index: int = 0, *, up: bool = False) -> bytes:
    flags = m.IFF_UP if up else 0
    return m.IFINFOMSG.pack(m.AF_UNSPEC, 0, index, flags, flags)


def _parse_link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = m.IFINFOMSG.unpack_from(payload)
    attrs = m.parse_attrs(payload, m.IFINFOMSG.size)
    info = m.parse_attrs(attrs.get(m.IFLA_LINKINFO, b""))
    return Link(
        index=index,
        name=m.get_str(attrs, m.IFLA_IFNAME) or "",
        kind=m.get_str(info, m.IFLA_INFO_KIND),
        master=m.get_u32(attrs, m.IFLA_MASTER) or None,
        mac=attrs.get(m.IFLA_ADDRESS, b"").hex(":"),
        mtu=m.get_u32(attrs, m.IFLA_MTU) or 0,
        up=bool(flags & m.IFF_UP),
        peer_index=m.get_u32(attrs, m.IFLA_LINK) or None,
        peer_netnsid=m.get_s32(attrs, m.IFLA_LINK_NETNSID),
        group=m.get_u32(attrs, m.IFLA_GROUP) or 0,
    )


def get_link(nl: Netlink, name: str) -> Link | None:
    """The link called `name`, or None."""
    validate_ifname(name)
    body = _ifinfo() + m.attr_str(m.IFLA_IFNAME, name) + _EXT_MASK
    return _get_link(nl, m.message(m.RTM_GETLINK, 0, body), name)


def get_link_by_index(nl: Netlink, index: int) -> Link | None:
    """The link with ifindex `index`, or None."""
    body = _ifinfo(index) + _EXT_MASK
    return _get_link(nl, m.message(m.RTM_GETLINK, 0, body), f"ifindex {index}")


def _get_link(nl: Netlink, msg: bytes, target: str) -> Link | None:
    try:
        return _parse_link(nl._get(msg, "get link", target))
    except KernelError as err:
        if err.is_missing:
            return None
        raise


def list_links(nl: Netlink) -> list[Link]:
    """Every link of the namespace (one dump)."""
    msg = m.message(m.RTM_GETLINK, 0, _ifinfo() + _EXT_MASK)
    return [_parse_link(p) for p in nl._dump(msg, "list links", "all")]


def ensure_bridge(
    nl: Netlink, name: str, *, mtu: int | None = None, mac: str | None = None
) -> Link:
    """The bridge `name`, up (and at `mtu` if given): created if missing (with `mac`), fixed
    if not (an existing bridge keeps its MAC)."""
    validate_ifname(name)
    link = get_link(nl, name)
    if link is None:
        link = _create_bridge(nl, name, mtu, mac)
    if link.kind != "bridge":
        raise Conflict(f"cannot use {name} as a bridge: it is a {link.kind or 'device'} link")
    if link.up and mtu in (None, link.mtu):
        return link
    body = _ifinfo(link.index, up=True) + (m.attr_u32(m.IFLA_MTU, mtu) if mtu else b"")
    nl._request([Request(m.message(m.RTM_SETLINK, 0, body), "set up bridge", name)])
    return get_link(nl, name) or link


def _create_bridge(nl: Netlink, name: str, mtu: int | None, mac: str | None) -> Link:
    """Create the bridge up; if another process just created `name`, return theirs.

    A bridge given no MAC takes the lowest MAC of its ports, so its address (the containers'
    gateway) changes as ports come and go, and leaves caches pointing at a port that may be
    gone; with `mac` it keeps that one, and the kernel skips that search on every new port.

    Multicast snooping off: with no IGMP/MLD querier on a container bridge, snooping forgets
    group members after the membership interval (~260 s) and multicast between containers
    stops (a known docker0 trap); off, multicast floods every port, as on a plain switch. It
    also spares every new port the arming of the snooping timers (~0.05 ms of a ~0.37 ms veth
    create, measured).
    """
    info = m.attr_str(m.IFLA_INFO_KIND, "bridge") + m.nested(
        m.IFLA_INFO_DATA, m.attr(m.IFLA_BR_MCAST_SNOOPING, b"\0")
    )
    body = (
        _ifinfo(up=True)
        + m.attr_str(m.IFLA_IFNAME, name)
        + (m.attr_u32(m.IFLA_MTU, mtu) if mtu else b"")
        + (m.attr(m.IFLA_ADDRESS, _mac_bytes(mac)) if mac else b"")
        + m.nested(m.IFLA_LINKINFO, info)
    )
    msg = m.message(m.RTM_NEWLINK, m.NLM_F_CREATE | m.NLM_F_EXCL, body)
    nl._request([Request(msg, "create bridge", name, frozenset({errno.EEXIST}))])
    link = get_link(nl, name)
    if link is None:  # created and deleted again by someone else in between
        raise KernelError("create bridge", name, errno.ENODEV)
    return link


def create_veth(
    nl: Netlink,
    host_name: str,
    peer_name: str,
    *,
    peer_netns_fd: int,
    master: int | None = None,
    mtu: int | None = None,
    peer_mac: str | None = None,
    up: bool = True,
) -> int | None:
    """Create a veth pair in ONE request: `host_name` here, enslaved to `master` and up if `up`;
    `peer_name` born in `peer_netns_fd` with `peer_mac`; both ends at `mtu`. Returns the peer's
    ifindex in its namespace, from the kernel's echo of the new link (its IFLA_LINK), so the
    caller need not look it up there; None from a kernel that does not echo (before 6.3).

    Both ends get one TX and one RX queue from the start: what a veth ends up with anyway, but
    left unsaid the kernel allocates one per CPU and shrinks them right after registering each
    end, which waits for an expedited RCU grace period: ~0.14 ms of a ~0.5 ms create (measured,
    2 CPUs; more with more CPUs). The data path uses one queue either way.

    The peer is born DOWN: the kernel configures it before pairing the two ends, and opening an
    unpaired veth fails (ENOTCONN), so IFF_UP in the peer's ifinfomsg would fail the whole
    request. `configure_interface` brings it up in its batch inside the namespace, after the
    addresses, which is also when arp_notify announces them. A taken name on either side fails
    the request with EEXIST and leaves nothing behind.
    """
    validate_ifname(host_name)
    validate_ifname(peer_name)
    common = (m.attr_u32(m.IFLA_MTU, mtu) if mtu else b"") + _ONE_QUEUE
    peer = (
        _ifinfo()
        + m.attr_str(m.IFLA_IFNAME, peer_name)
        + m.attr_u32(m.IFLA_NET_NS_FD, peer_netns_fd)
        + (m.attr(m.IFLA_ADDRESS, _mac_bytes(peer_mac)) if peer_mac else b"")
        + common
    )
    linkinfo = m.nested(
        m.IFLA_LINKINFO,
        m.attr_str(m.IFLA_INFO_KIND, "veth"),
        m.nested(m.IFLA_INFO_DATA, m.attr(m.VETH_INFO_PEER, peer)),
    )
    body = (
        _ifinfo(up=up)
        + m.attr_str(m.IFLA_IFNAME, host_name)
        + common
        + (m.attr_u32(m.IFLA_MASTER, master) if master else b"")
        + linkinfo
    )
    msg = m.message(m.RTM_NEWLINK, m.NLM_F_CREATE | m.NLM_F_EXCL, body)
    echo = nl._request_echoed(Request(msg, "create veth", f"{host_name} (peer {peer_name})"))
    return None if echo is None else m.find_u32(echo, m.IFINFOMSG.size, m.IFLA_LINK)


def no_link_local_request(index: int, name: str) -> Request:
    """Set addrgenmode none on link `index` (called `name`), while it is down: it gets no IPv6
    link-local address when it comes up. Success also for a link without IPv6. (Set on a link
    that is up, it would also cost a walk of the namespace's whole IPv6 routing table: the
    kernel announces a NETDEV_CHANGE, and IPv6 answers that on a link without carrier with
    `rt6_sync_down_dev`.)"""
    msg = m.message(m.RTM_SETLINK, 0, _ifinfo(index) + _NO_LINK_LOCAL)
    return Request(msg, "set addrgenmode none", name, _NO_IPV6)


def set_link_up(nl: Netlink, index: int) -> None:
    msg = m.message(m.RTM_SETLINK, 0, _ifinfo(index, up=True))
    nl._request([Request(msg, "set link up", f"ifindex {index}")])


def delete_link(nl: Netlink, name: str, *, missing_ok: bool = False) -> None:
    """Delete one link (a veth takes its peer along). Costs an RCU grace period: ~20 ms."""
    validate_ifname(name)
    msg = m.message(m.RTM_DELLINK, 0, _ifinfo() + m.attr_str(m.IFLA_IFNAME, name))
    nl._request([Request(msg, "delete link", name, _MISSING if missing_ok else frozenset())])


def delete_links(nl: Netlink, names: Sequence[str]) -> list[KernelError]:
    """Delete many links in one kernel unregister batch; missing ones count as deleted.

    Unregistering waits for RCU grace periods; the kernel pays them once per batch, and a group
    delete (`ip link del group N`) is the only bulk delete rtnetlink offers. So: move every link
    into a fresh random group (one batch of RTM_SETLINK), then delete the group. Returns every
    failure, never stopping at the first.
    """
    for name in names:
        validate_ifname(name)
    if not names:
        return []
    # Random and clear of small hand-picked groups (os.urandom: `secrets` costs 4 ms to import).
    group = int.from_bytes(os.urandom(4)) | 0x10000
    tag = m.attr_u32(m.IFLA_GROUP, group)
    moves = [_link_request(m.RTM_SETLINK, n, tag, "delete link") for n in names]
    results = nl._submit(moves)
    failures = [f for f in results if f is not None]
    purge = m.message(m.RTM_DELLINK, 0, _ifinfo() + tag)
    # ENODEV: the group is empty, every link was already gone.
    if nl._submit([Request(purge, "delete links", f"group {group}", _MISSING)])[0] is None:
        return failures
    # The kernel deletes a group all or nothing (EOPNOTSUPP if one member, like lo, cannot be
    # deleted): fall back to one request per link, still in one batch, and put the links that
    # would not go back into the default group.
    moved = [n for n, result in zip(names, results, strict=True) if result is None]
    singles = [_link_request(m.RTM_DELLINK, n, b"", "delete link") for n in moved]
    stuck = [(n, f) for n, f in zip(moved, nl._submit(singles), strict=True) if f is not None]
    ungroup = m.attr_u32(m.IFLA_GROUP, 0)
    nl._submit([_link_request(m.RTM_SETLINK, n, ungroup, "ungroup link") for n, _f in stuck])
    return failures + [f for _n, f in stuck]


def _link_request(msg_type: int, name: str, attrs: bytes, op: str) -> Request:
    """A request on the link called `name`, where ENODEV (already gone) counts as success."""
    body = _ifinfo() + m.attr_str(m.IFLA_IFNAME, name) + attrs
    return Request(m.message(msg_type, 0, body), op, name, _MISSING)
