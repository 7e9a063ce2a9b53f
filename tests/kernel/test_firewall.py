"""The firewall against the real kernel, in a throwaway three-namespace world.

    container ns                host ns                         internet ns
    eth0 172.17.0.2/16 --veth-- dockline0 172.17.0.1/16
                                uplink 203.0.113.1/24 --veth-- eth0 203.0.113.2/24

The internet has no route back to 172.17.0.0/16, so a container reaches it only when our table
masquerades. dockline's code runs inside the host namespace as a child python (`ip netns exec`);
`nft -j`, `sysctl` and `ping` check the result independently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from nslab import TestNetns

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")

FAMILY_TABLE = ("inet", "dockline")

# Child-side prelude: builds the test network and reports a KernelError as JSON on stdout.
PRELUDE = """
import json, sys
from dockline.addr import IPv4Address, IPv4Network
from dockline.errors import KernelError
from dockline.firewall import *
from dockline.model import Network
NET = Network(id="f" * 64, name="bridge", driver="bridge", bridge="dockline0",
              subnet=IPv4Network("172.17.0.0/16"), gateway=IPv4Address("172.17.0.1"))
def report(fn, *args):
    try:
        fn(*args)
    except KernelError as err:
        print(json.dumps({"error": str(err), "errno": err.errno}))
    else:
        print(json.dumps({"error": None}))
"""


def dockline_in(ns: TestNetns, code: str, *, wrap: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run PRELUDE + `code` with the venv python inside `ns`; return the JSON it printed last."""
    proc = ns.run(*wrap, sys.executable, "-c", PRELUDE + code, check=False)
    assert proc.returncode == 0, proc.stderr
    printed: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return printed


def apply_in(ns: TestNetns, script_expr: str = "render_ruleset([NET])") -> dict[str, Any]:
    return dockline_in(ns, f"report(apply_ruleset, {script_expr})")


def ping(ns: TestNetns, addr: str) -> bool:
    return ns.run("ping", "-n", "-q", "-c1", "-W1", addr, check=False).returncode == 0


def wait_ping(ns: TestNetns, addr: str, timeout: float = 5.0) -> bool:
    """Ping until one answer comes or the deadline passes (each try waits up to 1 s itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(ns, addr):
            return True
    return False


def our_tables(ns: TestNetns) -> list[dict[str, Any]]:
    out = json.loads(ns.run("nft", "-j", "list", "tables").stdout)
    tables = [e["table"] for e in out["nftables"] if "table" in e]
    return [t for t in tables if (t["family"], t["name"]) == FAMILY_TABLE]


def list_table(ns: TestNetns) -> str:
    return ns.run("nft", "list", "table", *FAMILY_TABLE).stdout


@dataclass(frozen=True)
class World:
    host: TestNetns
    container: TestNetns
    internet: TestNetns


@pytest.fixture
def world(netns_factory: Callable[[], TestNetns]) -> World:
    """Build the topology above; the namespaces (and with them every link) go afterwards."""
    host, container, internet = netns_factory(), netns_factory(), netns_factory()
    steps = [
        (host, "ip link add dockline0 type bridge"),
        (host, "ip addr add 172.17.0.1/16 dev dockline0"),
        (host, "ip link set dockline0 up"),
        (host, f"ip link add vethc0 type veth peer name eth0 netns {container.name}"),
        (host, "ip link set vethc0 master dockline0 up"),
        (container, "ip addr add 172.17.0.2/16 dev eth0"),
        (container, "ip link set eth0 up"),
        (container, "ip route add default via 172.17.0.1"),
        (host, f"ip link add uplink type veth peer name eth0 netns {internet.name}"),
        (host, "ip addr add 203.0.113.1/24 dev uplink"),
        (host, "ip link set uplink up"),
        (internet, "ip addr add 203.0.113.2/24 dev eth0"),
        (internet, "ip link set eth0 up"),
    ]
    for ns, cmd in steps:
        ns.run(*cmd.split())
    # Warm up neighbour tables on both links, so a failed ping later means routing or firewall.
    assert wait_ping(container, "172.17.0.1"), "container cannot reach its gateway"
    assert wait_ping(host, "203.0.113.2"), "host cannot reach the internet ns"
    return World(host, container, internet)


def root_ip_forward() -> str:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return f.read().strip()


def test_masquerade_lets_container_reach_internet(world: World) -> None:
    root_before = root_ip_forward()
    assert world.host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"
    assert dockline_in(world.host, "report(enable_forwarding)") == {"error": None}
    assert world.host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert root_ip_forward() == root_before, "enable_forwarding leaked into the root namespace"

    # Forwarded, but the internet cannot answer 172.17.0.2: no route back.
    assert not ping(world.container, "203.0.113.2")

    assert apply_in(world.host) == {"error": None}
    assert wait_ping(world.container, "203.0.113.2"), "masquerade did not let the reply back"

    [table] = our_tables(world.host)
    assert table["family"] == "inet"
    listing = json.loads(
        world.host.run("nft", "-j", "list", "set", "inet", "dockline", "subnet_bridges4").stdout
    )
    [nft_set] = [e["set"] for e in listing["nftables"] if "set" in e]
    [elem] = nft_set["elem"]
    assert elem["concat"][0] == {"prefix": {"addr": "172.17.0.0", "len": 16}}
    assert elem["concat"][1] == "dockline0"


def test_unsolicited_inbound_is_dropped(world: World) -> None:
    world.internet.run("ip", "route", "add", "172.17.0.0/16", "via", "203.0.113.1")
    assert dockline_in(world.host, "report(enable_forwarding)") == {"error": None}
    assert wait_ping(world.internet, "172.17.0.2"), "plain routing should reach the container"

    assert apply_in(world.host) == {"error": None}
    assert not ping(world.internet, "172.17.0.2"), "to_bridge let a new inbound flow in"
    assert wait_ping(world.container, "203.0.113.2"), "replies must still come back in"


def test_apply_twice_is_idempotent(host_ns: TestNetns) -> None:
    assert apply_in(host_ns) == {"error": None}
    first = list_table(host_ns)
    assert apply_in(host_ns) == {"error": None}
    assert list_table(host_ns) == first
    assert len(our_tables(host_ns)) == 1
    assert '"dockline0"' in first


def test_zero_networks_renders_empty_table(host_ns: TestNetns) -> None:
    assert apply_in(host_ns) == {"error": None}
    assert apply_in(host_ns, "render_ruleset([])") == {"error": None}
    assert len(our_tables(host_ns)) == 1
    assert "dockline0" not in list_table(host_ns)


def test_delete_removes_table_and_is_idempotent(host_ns: TestNetns) -> None:
    other = "table inet other {\n chain c {\n type filter hook input priority 0;\n }\n}\n"
    host_ns.run("nft", "-f", "-", input=other)
    assert dockline_in(host_ns, "report(delete_ruleset)") == {"error": None}  # never existed
    assert apply_in(host_ns) == {"error": None}
    assert len(our_tables(host_ns)) == 1
    assert dockline_in(host_ns, "report(delete_ruleset)") == {"error": None}
    assert our_tables(host_ns) == []
    assert dockline_in(host_ns, "report(delete_ruleset)") == {"error": None}
    # another owner's table is untouched by apply and delete alike
    assert host_ns.run("nft", "list", "table", "inet", "other").returncode == 0


def test_bad_script_raises_with_nft_message_and_keeps_old_table(host_ns: TestNetns) -> None:
    assert apply_in(host_ns) == {"error": None}
    before = list_table(host_ns)
    # Valid prefix (it deletes our table) then a broken rule: the transaction must not commit.
    bad = "render_ruleset([NET]).replace('masquerade', 'jump nowhere')"
    result = apply_in(host_ns, bad)
    assert result["errno"] == 22  # EINVAL
    assert "apply nftables ruleset table inet dockline" in result["error"]
    assert "nowhere" in result["error"] or "Could not process rule" in result["error"]
    assert list_table(host_ns) == before

    result = apply_in(host_ns, "'this is not nft\\n'")
    assert result["errno"] == 22
    assert "syntax error" in result["error"]


def test_missing_nft_binary_says_install_nftables(host_ns: TestNetns) -> None:
    """Hide nft for real: a private mount namespace with /dev/null bound over the binary."""
    nft = subprocess.run(
        ["sh", "-c", "command -v nft || echo /usr/sbin/nft"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    real = os.path.realpath(nft)
    wrap = (
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'mount --bind /dev/null {real} && PATH=/usr/bin:/bin exec "$0" "$@"',
    )
    result = dockline_in(host_ns, "report(apply_ruleset, render_ruleset([NET]))", wrap=wrap)
    assert result["errno"] == 2  # ENOENT
    assert "install the nftables package" in result["error"]
    assert os.access(real, os.X_OK), "the bind mount leaked out of its mount namespace"
