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
