"""Typed rtnetlink operations bound to one namespace: links, addresses, routes.

Stdlib only and cheap to import (pyroute2 costs ~250 ms): precompiled structs over a plain
NETLINK_ROUTE socket, with requests batched so that a container attach takes a few round trips.
Every kernel refusal is a `KernelError` carrying the errno. Operations are free functions taking
the `Netlink` handle first; a handle belongs to the namespace it was opened in.
"""

from dockline.netlink.addresses import add_address, list_addresses
from dockline.netlink.interface import configure_interface
from dockline.netlink.links import (
    Link,
    create_veth,
    delete_link,
    delete_links,
    ensure_bridge,
    get_link,
    get_link_by_index,
    list_links,
    set_link_up,
    validate_ifname,
)
from dockline.netlink.routes import Route, add_route, list_routes
from dockline.netlink.socket import Netlink

__all__ = [
    "Link",
    "Netlink",
    "Route",
    "add_address",
    "add_route",
    "configure_interface",
    "create_veth",
    "delete_link",
    "delete_links",
    "ensure_bridge",
    "get_link",
    "get_link_by_index",
    "list_addresses",
    "list_links",
    "list_routes",
    "set_link_up",
    "validate_ifname",
]
