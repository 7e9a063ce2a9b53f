"""The bridge driver: Docker's five steps for one namespace on one bridge network.

plan (store only: address, MAC, names) is kept apart from setup (kernel only), so every input is
checked before the kernel is touched, and setup pushes an undo step right after each object exists.
The steps, as in the source document:
  1. a veth pair, created with the peer *born* in the target namespace (nothing to move back);
  2. the host end named `veth` + 7 hex, unique (a clash makes us draw again), on the bridge, up;
  3. the peer named `eth0` (or as asked); a clash inside the namespace is an error, never a rename;
  4. the MAC given, or 02:42 + the IPv4 address, so a reused IP comes back with the same MAC;
  5. the address from the subnet, `lo` up, and the default route via the gateway.
"""

from __future__ import annotations

import errno

from dockline import ipam
from dockline.addr import IPv4Address, IPv4Interface, IPv6Address
from dockline.errors import Conflict, KernelError, NotFound
from dockline.ids import random_hex
from dockline.model import Endpoint, IPAddress, NetnsRef, Network
from dockline.netlink import (
    Netlink,
    add_address,
    configure_interface,
    create_veth,
    delete_link,
    ensure_bridge,
    get_link,
    set_link_up,
)
from dockline.records import TYPE_CHECKING
from dockline.rollback import Rollback

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from dockline.store.base import Txn

HOST_IFNAME_PREFIX = "veth"
NAME_ATTEMPTS = 8
MAX_BRIDGE_PORTS = 1023  # the kernel's BR_MAX_PORTS (1024) less port number 0, never used


def new_host_ifname() -> str:
    """`veth` + 7 hex characters, as Docker names the host end."""
    return HOST_IFNAME_PREFIX + random_hex(7)


def is_host_ifname(name: str) -> bool:
    """Whether a link name has the shape of our host-side veth names."""
    suffix = name[len(HOST_IFNAME_PREFIX) :]
    return (
        name.startswith(HOST_IFNAME_PREFIX)
        and len(suffix) == 7
        and all(c in "0123456789abcdef" for c in suffix)
    )


def reserved_addresses(network: Network) -> set[IPv4Address]:
    """Addresses never handed to a container: the bridge's own and the default gateway."""
    reserved = {network.gateway}
    if network.default_gateway is not None:
        reserved.add(network.default_gateway)
    return reserved


def plan_endpoint(
    txn: Txn,
    network: Network,
    netns: NetnsRef,
    *,
    endpoint_id: str,
    ifname: str,
    ip: IPv4Address | None,
    mac: str | None,
    container_id: str | None = None,
    netns_link: str | None = None,
    now: float = 0.0,
) -> Endpoint:
    """Choose the address, MAC and names, and record the endpoint and its lease in `txn`."""
    leased = LeaseView(txn, network.id)
    reserved = reserved_addresses(network)
    if ip is not None:
        ipam.check_requested_address(network.subnet, ip, reserved=reserved, in_use=leased)
    else:
        ip = ipam.next_free_address(
            network.subnet,
            ip_range=network.ip_range,
            reserved=reserved,
            in_use=leased,
            after=_as_v4(txn.get_ipam_cursor(network.id)),
        )
        txn.set_ipam_cursor(network.id, ip)
    endpoint = Endpoint(
        id=endpoint_id,
        network_id=network.id,
        netns=netns,
        ifname=ifname,
        host_ifname=new_host_ifname(),
        mac=mac or ipam.mac_from_ipv4(ip),
        addresses=(IPv4Interface(f"{ip}/{network.subnet.prefixlen}"),),
        gateway=network.route_gateway,
        container_id=container_id,
        netns_link=netns_link,
        created=now,
    )
    endpoint = record_with_unique_name(txn, endpoint)
    txn.add_lease(network.id, ip, endpoint.id)
    return endpoint


def record_with_unique_name(txn: Txn, endpoint: Endpoint) -> Endpoint:
    """Record the endpoint, drawing another host name if a recorded one has it (2^28 names:
    at a thousand endpoints a clash is rare but real)."""
    for _ in range(NAME_ATTEMPTS):
        try:
            txn.put_endpoint(endpoint)
            return endpoint
        except Conflict:  # the only unique column besides the random 64-hex ID
            endpoint = endpoint._replace(host_ifname=new_host_ifname())
    raise Conflict(f"could not find a free host interface name after {NAME_ATTEMPTS} tries")


class LeaseView:
    """A network's leases as a `Collection[IPAddress]` that asks the store per address.

    Allocation probes a few addresses from the cursor on; reading every lease instead would make
    each attach cost grow with the number of containers on the network.
    """

    def __init__(self, txn: Txn, network_id: str) -> None:
        self._txn = txn
        self._network_id = network_id

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address | IPv6Address) and self._txn.is_leased(
            self._network_id, address
        )

    def __iter__(self) -> Iterator[IPAddress]:
        return iter(self._txn.leased_addresses(self._network_id))

    def __len__(self) -> int:
        return len(self._txn.leased_addresses(self._network_id))


def _as_v4(address: object) -> IPv4Address | None:
    return address if isinstance(address, IPv4Address) else None


def ensure_bridge_ready(nl: Netlink, network: Network) -> tuple[int, bool]:
    """The bridge's ifindex, creating and addressing it if missing; True only if it was made
    here (for the caller's undo to delete it): a bridge that exists but was set down is set up
    again and stays, with the containers on it, whatever happens next.

    The fast path is one lookup. A bridge we do not manage (Docker's `bridge` option) must exist.
    """
    link = get_link(nl, network.bridge)
    if link is not None and link.up:
        return link.index, False
    if not network.managed_bridge:
        if link is None:
            raise NotFound("bridge", network.bridge)
        set_link_up(nl, link.index)
        return link.index, False
    # A fixed MAC, 02:42 + the gateway address as for containers: the gateway's MAC must not
    # follow the lowest port MAC (see links._create_bridge), and it is the same after a reboot.
    made = link is None
    mac = ipam.mac_from_ipv4(network.gateway)
    link = ensure_bridge(nl, network.bridge, mtu=network.mtu, mac=mac)
    gateway = IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}")
    add_address(nl, link.index, gateway, exist_ok=True)
    return link.index, made


def setup_endpoint(
    nl: Netlink,
    endpoint: Endpoint,
    *,
    network: Network,
    bridge_index: int,
    netns_fd: int,
    undo: Rollback,
    txn: Txn,
    reready: Callable[[], int] | None = None,
) -> Endpoint:
    """Steps 1-5 in the kernel; returns the endpoint (its host name may have been redrawn).

    `reready`, given when `bridge_index` was remembered rather than looked up, readies the
    bridge again and returns its index: called once if the kernel refuses to create the veth.
    """
    endpoint, peer_index = _create_veth_unique(
        nl,
        endpoint,
        network=network,
        bridge_index=bridge_index,
        netns_fd=netns_fd,
        txn=txn,
        reready=reready,
    )
    undo.push(delete_link, nl, endpoint.host_ifname, missing_ok=True)
    with Netlink.open(netns_fd) as inner:
        configure_interface(
            inner,
            endpoint.ifname,
            addresses=endpoint.addresses,
            gateway=endpoint.gateway,
            announce=not mac_follows_ip(endpoint),
            ipv6_link_local=any(a.version == 6 for a in endpoint.addresses),
            index=peer_index,
        )
    return endpoint


def _create_on_bridge(
    nl: Netlink,
    endpoint: Endpoint,
    network: Network,
    bridge_index: int,
    netns_fd: int,
    *,
    reready: Callable[[], int] | None,
) -> int | None:
    """create_veth on the bridge; the peer's index. A remembered bridge index that the kernel
    refuses (the bridge was deleted, or made again) sends us to `reready` and one more try;
    a failed create leaves nothing behind."""
    try:
        return _create_veth(nl, endpoint, network, bridge_index, netns_fd)
    except KernelError as err:
        if err.errno in (errno.EEXIST, errno.EXFULL) or reready is None:
            raise
    return _create_veth(nl, endpoint, network, reready(), netns_fd)


def _create_veth(
    nl: Netlink, endpoint: Endpoint, network: Network, bridge_index: int, netns_fd: int
) -> int | None:
    try:
        return create_veth(
            nl,
            endpoint.host_ifname,
            endpoint.ifname,
            peer_netns_fd=netns_fd,
            master=bridge_index,
            mtu=network.mtu,
            peer_mac=endpoint.mac,
        )
    except KernelError as err:
        if err.errno == errno.EXFULL:  # the bridge has no port number left (BR_MAX_PORTS)
            raise Conflict(
                f"bridge {network.bridge} of network {network.name} is full: "
                f"a Linux bridge takes at most {MAX_BRIDGE_PORTS} ports"
            ) from err
        raise


def mac_follows_ip(endpoint: Endpoint) -> bool:
    """The MAC is the one derived from the IPv4 address: caches cannot hold a stale entry."""
    v4 = next((a.ip for a in endpoint.addresses if isinstance(a.ip, IPv4Address)), None)
    return v4 is not None and endpoint.mac == ipam.mac_from_ipv4(v4)


def _create_veth_unique(
    nl: Netlink,
    endpoint: Endpoint,
    *,
    network: Network,
    bridge_index: int,
    netns_fd: int,
    txn: Txn,
    reready: Callable[[], int] | None,
) -> tuple[Endpoint, int | None]:
    """Create the pair, drawing another host name on a clash; the endpoint and the peer's index."""
    for _ in range(NAME_ATTEMPTS):
        try:
            peer_index = _create_on_bridge(
                nl, endpoint, network, bridge_index, netns_fd, reready=reready
            )
            return endpoint, peer_index
        except KernelError as err:
            if err.errno != errno.EEXIST:
                raise
            if get_link(nl, endpoint.host_ifname) is None:
                raise Conflict(
                    f"interface {endpoint.ifname} already exists in network namespace "
                    f"{endpoint.netns.path}"
                ) from err
        endpoint = record_with_unique_name(txn, endpoint._replace(host_ifname=new_host_ifname()))
    raise Conflict(f"could not find a free host interface name after {NAME_ATTEMPTS} tries")
