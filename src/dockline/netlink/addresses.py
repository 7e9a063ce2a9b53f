"""Interface addresses: add them (IPv4 with broadcast, like iproute2) and list them.

Builds RTM_*ADDR messages; the round trips are `Netlink`'s. Addresses are `dockline.addr` objects.
"""

from __future__ import annotations

import errno

from dockline.addr import IPv4Interface, IPv6Interface, ip_address, ip_interface
from dockline.netlink import messages as m
from dockline.netlink.socket import Netlink, Request

IPInterface = IPv4Interface | IPv6Interface


def _family(address: IPInterface) -> int:
    return m.AF_INET if address.version == 4 else m.AF_INET6


def address_request(
    index: int, address: IPInterface, *, exist_ok: bool = False, nodad: bool = False
) -> Request:
    """The RTM_NEWADDR for `address` on ifindex `index` (batched by configure_interface)."""
    local = address.ip.packed
    # iproute2's default scope: host for 127/8, universe otherwise.
    loopback = address.version == 4 and address.ip.is_loopback
    header = m.IFADDRMSG.pack(
        _family(address),
        address.network.prefixlen,
        m.IFA_F_NODAD if nodad else 0,
        m.RT_SCOPE_HOST if loopback else m.RT_SCOPE_UNIVERSE,
        index,
    )
    attrs = m.attr(m.IFA_LOCAL, local) + m.attr(m.IFA_ADDRESS, local)
    if isinstance(address, IPv4Interface) and address.network.prefixlen < 31:
        attrs += m.attr(m.IFA_BROADCAST, address.network.broadcast_address.packed)
    msg = m.message(m.RTM_NEWADDR, m.NLM_F_CREATE | m.NLM_F_EXCL, header + attrs)
    ok = frozenset({errno.EEXIST}) if exist_ok else frozenset()
    return Request(msg, "add address", f"{address} on ifindex {index}", ok)


def add_address(
    nl: Netlink,
    index: int,
    address: IPInterface,
    *,
    exist_ok: bool = False,
    nodad: bool = False,
) -> None:
    """Add `address` to ifindex `index`; `nodad` skips IPv6 duplicate detection (usable at once)."""
    nl._request([address_request(index, address, exist_ok=exist_ok, nodad=nodad)])


def list_addresses(nl: Netlink, index: int | None = None) -> list[tuple[int, IPInterface]]:
    """(ifindex, address) of every IPv4 and IPv6 address, or only those on `index`.

    A missing `index` raises KernelError (ENODEV, `is_missing`) rather than returning [].
    """
    header = m.IFADDRMSG.pack(m.AF_UNSPEC, 0, 0, 0, index or 0)  # strict dump: kernel filters
    payloads = nl._dump(m.message(m.RTM_GETADDR, 0, header), "list addresses", f"ifindex {index}")
    result: list[tuple[int, IPInterface]] = []
    for payload in payloads:
        _family, prefixlen, _flags, _scope, ifindex = m.IFADDRMSG.unpack_from(payload)
        attrs = m.parse_attrs(payload, m.IFADDRMSG.size)
        raw = attrs.get(m.IFA_LOCAL) or attrs.get(m.IFA_ADDRESS)  # LOCAL: ours on point-to-point
        if raw is None or (index is not None and ifindex != index):
            continue
        result.append((ifindex, ip_interface(f"{ip_address(raw)}/{prefixlen}")))
    return result
