"""Configure a container's interface inside its namespace in one batched round trip.

Composes the message builders of links, addresses and routes; owns only the ordering of the
batch, which matters because the kernel applies a batch in order.
"""

from __future__ import annotations

import errno

from dockline.addr import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from dockline.errors import KernelError
from dockline.netlink import messages as m
from dockline.netlink.addresses import address_request
from dockline.netlink.links import get_link, no_link_local_request
from dockline.netlink.routes import route_request
from dockline.netlink.socket import Netlink, Request
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

_LO_UP = m.message(
    m.RTM_SETLINK,
    0,
    m.IFINFOMSG.pack(m.AF_UNSPEC, 0, 0, m.IFF_UP, m.IFF_UP) + m.attr_str(m.IFLA_IFNAME, "lo"),
)


def configure_interface(
    nl: Netlink,
    ifname: str,
    *,
    addresses: Sequence[IPv4Interface | IPv6Interface],
    gateway: IPv4Address | IPv6Address | None,
    arp_notify: bool = True,
    announce: bool = True,
    ipv6_link_local: bool = True,
    index: int | None = None,
) -> int:
    """Bring lo and `ifname` up, add `addresses` and the default route via `gateway`; the ifindex.

    Two round trips: one RTM_GETLINK, then one batch; one when the caller knows the `index` of
    a link it has just made (down, as a new veth peer is). Batch order: arp_notify and addresses
    before `ifname` goes up (arp_notify announces the addresses on that up event, so it only
    announces when the link starts down), the route last (its gateway is only reachable once
    the link is up and addressed). IPv6 addresses skip DAD so the route and traffic work at once,
    as Docker does. The batch is read to its end (its ack, and any failure reports) before
    the first failure is raised.

    With `announce=False`, arp_notify is set only after the link is up and addressed (in the
    same RTM_SETLINK as IFF_UP: the kernel applies the flags first): it is on for later
    changes, but the coming up sends no gratuitous ARP, which the bridge would flood to
    every port (callers pass False when the MAC is derived from the IP, so no cache can hold a
    stale entry for it: the reason Docker derives MACs from IPs).

    `ipv6_link_local=False` (for IPv4-only networks, as Docker 26+ does) stops the kernel from
    giving the interface an fe80:: address when it comes up: on a bridge with many ports, each
    new port's link-local chatter (DAD, router solicitations, MLD) is flooded to every other
    port, and was most of the growth of attach cost with the number of containers. A link
    without IPv6 (an MTU below 1280) has no link-local address anyway; the kernel's refusal of
    the setting is then taken as success.
    """
    if index is None:
        link = get_link(nl, ifname)
        if link is None:
            raise KernelError("configure interface", ifname, errno.ENODEV)
        index, up = link.index, link.up
    else:
        up = False
    # AF_SPEC settings before the link goes up, and with it: the kernel applies a SETLINK's
    # flags before its AF_SPEC, so arp_notify sent with IFF_UP is on only after the up event.
    before_up: list[bytes] = []
    with_up: list[bytes] = []
    if arp_notify:
        (before_up if announce else with_up).append(_ARP_NOTIFY)
    batch = [Request(_LO_UP, "set link up", "lo")]
    if not ipv6_link_local:  # its own request: a link without IPv6 refuses it, harmlessly
        batch.append(no_link_local_request(index, ifname))
    if before_up:
        batch.append(_setlink(index, ifname, 0, before_up, "set arp_notify"))
    batch += [address_request(index, a, nodad=a.version == 6) for a in addresses]
    if not up or with_up:
        batch.append(_setlink(index, ifname, 0 if up else m.IFF_UP, with_up, "set link up"))
    if gateway is not None:
        batch.append(route_request(dst=None, gateway=gateway, oif=index))
    nl._request(batch)
    return index


# net.ipv4.conf.<ifname>.arp_notify=1 through netlink (no /proc/sys, no mount needed)
_ARP_NOTIFY = m.nested(
    m.AF_INET, m.nested(m.IFLA_INET_CONF, m.attr_u32(m.IPV4_DEVCONF_ARP_NOTIFY, 1))
)


def _setlink(index: int, ifname: str, flags: int, af_spec: list[bytes], op: str) -> Request:
    """One RTM_SETLINK: `flags` (IFF_UP or 0) set, then the per-family settings in `af_spec`."""
    info = m.IFINFOMSG.pack(m.AF_UNSPEC, 0, index, flags, flags)
    attrs = m.nested(m.IFLA_AF_SPEC, *af_spec) if af_spec else b""
    return Request(m.message(m.RTM_SETLINK, 0, info + attrs), op, ifname)
