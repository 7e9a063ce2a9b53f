"""Out to the world: a container reaches an "internet" behind the host through our NAT.

The internet is a namespace with a documentation address (203.0.113.2) and no route back to the
container subnet, so a reply can only arrive if the host masqueraded the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from e2e_helpers import Dockline

from nslab import TestNetns


def connect_internet(dl: Dockline, internet: TestNetns) -> None:
    dl.ns.run(
        "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "wan", "netns", internet.name
    )
    dl.ns.run("ip", "addr", "add", "203.0.113.1/24", "dev", "uplink")
    dl.ns.run("ip", "link", "set", "uplink", "up")
    internet.run("ip", "addr", "add", "203.0.113.2/24", "dev", "wan")
    internet.run("ip", "link", "set", "wan", "up")


def test_container_reaches_the_internet_masqueraded(
    dl: Dockline, netns_factory: Callable[[], TestNetns]
) -> None:
    internet = netns_factory()
    connect_internet(dl, internet)
    dl("network", "ls")
    proc = dl("run", "--rm", "--", "ping", "-c", "1", "-W", "2", "203.0.113.2", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The internet has no way back to the container's address: the reply went to the host's.
    assert internet.run("ip", "route", "get", "172.17.0.2", check=False).returncode != 0
    ruleset = json.loads(dl.ns.run("nft", "-j", "list", "table", "inet", "dockline").stdout)
    assert any("masquerade" in json.dumps(item) for item in ruleset["nftables"])


def test_without_our_rules_the_internet_is_unreachable(
    dl: Dockline, netns_factory: Callable[[], TestNetns]
) -> None:
    internet = netns_factory()
    connect_internet(dl, internet)
    dl("network", "ls")
    dl.ns.run("nft", "delete", "table", "inet", "dockline")
    proc = dl("run", "--rm", "--", "ping", "-c", "1", "-W", "1", "203.0.113.2", check=False)
    assert proc.returncode != 0
    dl("gc")  # gc puts our ruleset back
    assert dl("run", "--rm", "--", "ping", "-c", "1", "-W", "2", "203.0.113.2").returncode == 0


def attach_outside(dl: Dockline, outside: TestNetns, n: int) -> str:
    """A network of the host's own, 198.51.100.16N/28 (the host .16N+1), with `outside` on it
    (.16N+2, its default route via the host); `outside`'s address."""
    host_ip, outside_ip = f"198.51.100.{16 * n + 1}", f"198.51.100.{16 * n + 2}"
    dl.ns.run("ip", "link", "add", f"up{n}", "type", "veth", "peer", "name", f"lan{n}", "netns", outside.name)  # fmt: skip
    dl.ns.run("ip", "addr", "add", f"{host_ip}/28", "dev", f"up{n}")
    dl.ns.run("ip", "link", "set", f"up{n}", "up")
    outside.run("ip", "addr", "add", f"{outside_ip}/28", "dev", f"lan{n}")
    outside.run("ip", "link", "set", f"lan{n}", "up")
    outside.run("ip", "route", "add", "default", "via", host_ip)
    return outside_ip


def test_forwarding_dockline_turned_on_routes_only_its_networks(
    dl: Dockline, netns_factory: Callable[[], TestNetns]
) -> None:
    """As Docker's FORWARD policy DROP: once dockline has turned forwarding on, the host does not
    start routing between its other networks (two of its own here); when forwarding was on
    before dockline came, dockline leaves that routing alone."""
    first, second = netns_factory(), netns_factory()
    attach_outside(dl, first, 1)
    second_address = attach_outside(dl, second, 2)
    ping = ("ping", "-c", "1", "-W", "1", second_address)
    assert dl.ns.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"
    assert first.run(*ping, check=False).returncode != 0  # the host does not route yet
    dl("network", "ls")  # the default network: forwarding on, by dockline
    assert dl.ns.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert first.run(*ping, check=False).returncode != 0  # and still not between those two
    assert dl("run", "--rm", "--", "ping", "-c", "1", "-W", "2", second_address).returncode == 0


def test_forwarding_that_was_on_before_is_left_to_the_host(
    dl: Dockline, netns_factory: Callable[[], TestNetns]
) -> None:
    first, second = netns_factory(), netns_factory()
    attach_outside(dl, first, 1)
    second_address = attach_outside(dl, second, 2)
    dl.ns.run("sysctl", "-w", "net.ipv4.ip_forward=1")
    dl("network", "ls")
    assert first.run("ping", "-c", "1", "-W", "2", second_address).returncode == 0
