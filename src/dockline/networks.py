"""Networks: finding them in the store, and making the default one on first use (like docker0).

The default network is named `bridge`, on a bridge `dockline0` (or an existing bridge named in the
config), with a subnet chosen as Docker chooses from its default pools: 172.17.0.0/16 first, then
the next pool that overlaps no route of this host. Creating it also brings up forwarding and the
firewall; both are reapplied whenever the bridge itself has to be made again (after a reboot).
"""

from __future__ import annotations

import time

from dockline import ipam, netns
from dockline.addr import IPv4Interface, IPv4Network
from dockline.config import DEFAULT_BRIDGE, DEFAULT_NETWORK, BridgeConfig
from dockline.driver.bridge import ensure_bridge_ready
from dockline.errors import ConfigError, NotFound
from dockline.ids import new_id
from dockline.model import Network
from dockline.netlink import Netlink, delete_link, get_link, list_addresses, list_routes
from dockline.records import TYPE_CHECKING, Record
from dockline.rollback import Rollback

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockline.store.base import Txn

DEFAULT_MTU = 1500


class Host(Record):
    """The host a network lives on: a netlink handle, an fd of its namespace, and its config
    (read only when a network is made, so an attach does not parse config files)."""

    nl: Netlink
    netns_fd: int
    load_config: Callable[[], BridgeConfig]


def get_network(txn: Txn, host: Host, name: str, undo: Rollback) -> tuple[Network, bool]:
    """The network by name or ID, and whether it was just made (the default one, on first use).

    A new network's firewall rules are applied here, with an undo that restores the old ruleset
    (and turns forwarding off again if it was off).
    """
    network = txn.get_network(name)
    if network is not None:
        return network, False
    if name != DEFAULT_NETWORK:
        raise NotFound("network", name)
    before = txn.list_networks()
    network = plan_default_network(host.nl, host.load_config(), taken=[n.subnet for n in before])
    txn.put_network(network)
    ours_before = forwarding_ours(txn)
    apply_firewall(host, [*before, network], txn, undo)
    undo.push(restore_firewall, host, before, ours_before)
    return network, True


FORWARDING = "forwarding"  # the setting that says dockline turned IPv4 forwarding on
OURS = "dockline"


def forwarding_ours(txn: Txn) -> bool:
    """Whether dockline turned forwarding on on this host (so its ruleset drops the forwarded
    traffic that is none of its networks', as Docker's FORWARD policy DROP)."""
    return txn.get_setting(FORWARDING) == OURS


def restore_firewall(host: Host, networks: list[Network], ours: bool = False) -> None:
    """Undo of a new network's rules: the previous ruleset, or no table at all if there was none.

    It runs after the transaction's block has ended (it cannot read it): `ours` is
    `forwarding_ours` as it was before."""
    from dockline import firewall

    with netns.entered(host.netns_fd):
        if networks:
            firewall.apply_ruleset(firewall.render_ruleset(networks, forwarding_ours=ours))
        else:
            firewall.delete_ruleset()


def ready_network(host: Host, network: Network, txn: Txn, undo: Rollback, *, new: bool) -> int:
    """The bridge ifindex. A bridge that had to be made again (after a reboot) gets its
    forwarding and firewall back too; a new network already has them."""
    index, created = ensure_bridge_ready(host.nl, network)
    if created:
        undo.push(delete_link, host.nl, network.bridge, missing_ok=True)
        if not new:
            apply_firewall(host, txn.list_networks(), txn, undo)
    return index


def apply_firewall(
    host: Host, networks: list[Network], txn: Txn, undo: Rollback | None = None
) -> None:
    """Forwarding on, and our whole ruleset rendered from the networks and applied at once,
    in the host's namespace whichever namespace the calling thread is in.

    Forwarding that was off is recorded as ours in `txn` (then the ruleset drops what is none
    of our networks'), and with `undo` turned off again by it (the ruleset's undo is the
    caller's)."""
    from dockline import firewall  # only when networks change: it costs a process (nft)

    with netns.entered(host.netns_fd):
        turned_on = firewall.enable_forwarding()
        if turned_on:
            txn.set_setting(FORWARDING, OURS)
            if undo is not None:
                undo.push(disable_forwarding, host)
        ours = turned_on or forwarding_ours(txn)  # what was just written need not be read back
        firewall.apply_ruleset(firewall.render_ruleset(networks, forwarding_ours=ours))


def disable_forwarding(host: Host) -> None:
    from dockline import firewall

    with netns.entered(host.netns_fd):
        firewall.disable_forwarding()


def plan_default_network(nl: Netlink, config: BridgeConfig, *, taken: list[IPv4Network]) -> Network:
    """The `bridge` network as the config and the host's routes make it."""
    bridge = config.bridge or DEFAULT_BRIDGE
    gateway = config.bip or _existing_address(nl, config.bridge)
    if gateway is None:
        subnet = ipam.choose_default_subnet(_host_routes(nl, bridge), taken)
        gateway = IPv4Interface(f"{next(subnet.hosts())}/{subnet.prefixlen}")
    _check_fits(config, gateway)
    return Network(
        id=new_id(),
        name=DEFAULT_NETWORK,
        driver="bridge",
        bridge=bridge,
        subnet=gateway.network,
        gateway=gateway.ip,
        ip_range=config.fixed_cidr,
        default_gateway=config.default_gateway,
        mtu=config.mtu or DEFAULT_MTU,
        managed_bridge=config.bridge is None,
        created=time.time(),
    )


def _check_fits(config: BridgeConfig, gateway: IPv4Interface) -> None:
    subnet = gateway.network
    if config.fixed_cidr is not None and not config.fixed_cidr.subnet_of(subnet):
        raise ConfigError(f"fixed-cidr {config.fixed_cidr} is not inside the subnet {subnet}")
    if config.default_gateway is not None and config.default_gateway not in subnet:
        raise ConfigError(f"default-gateway {config.default_gateway} is not inside {subnet}")


def _existing_address(nl: Netlink, bridge: str | None) -> IPv4Interface | None:
    """With Docker's `bridge` option the bridge's own IPv4 address defines the network."""
    if bridge is None:
        return None
    link = get_link(nl, bridge)
    if link is None:
        raise NotFound("bridge", bridge)
    if link.kind != "bridge":
        raise ConfigError(f"bridge {bridge} is a {link.kind or 'device'} link, not a bridge")
    for _, address in list_addresses(nl, link.index):
        if isinstance(address, IPv4Interface):
            return address
    raise ConfigError(f"bridge {bridge} has no IPv4 address: give one, or set bip")


def _host_routes(nl: Netlink, bridge: str) -> list[IPv4Network]:
    """Routes that a new subnet must not overlap (our own bridge's routes do not count)."""
    own = get_link(nl, bridge)
    own_index = own.index if own is not None else None
    return [
        r.dst
        for r in list_routes(nl)
        if isinstance(r.dst, IPv4Network) and r.dst.prefixlen > 0 and r.oif != own_index
    ]
