"""dockline.netlink against the real kernel, each test inside throwaway namespaces.

Acts through dockline.netlink (entering a namespace with `Netlink.open(fd)`) and checks the
result with iproute2 (`ip -j`) or /proc/sys read inside the namespace. Run by hand for timings:
`.venv/bin/python tests/kernel/test_netlink.py` (the benchmark at the bottom; not a test).
"""

from __future__ import annotations

import errno
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dockline.addr import ip_address, ip_interface, ip_network
from dockline.errors import Conflict, InvalidArgument, KernelError
from dockline.netlink import (
    Netlink,
    Route,
    add_address,
    add_route,
    configure_interface,
    create_veth,
    delete_link,
    delete_links,
    ensure_bridge,
    get_link,
    get_link_by_index,
    list_addresses,
    list_links,
    list_routes,
    set_link_up,
)

if TYPE_CHECKING:
    from nslab import TestNetns

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")

PEER_MAC = "02:42:ac:11:00:02"


# --- fixtures and helpers ---


@pytest.fixture
def nl(netns_fd: int) -> Iterator[Netlink]:
    """A handle in the throwaway host namespace."""
    with Netlink.open(netns_fd) as handle:
        yield handle


@pytest.fixture
def container_ns(netns_factory: Callable[[], TestNetns]) -> TestNetns:
    """A second throwaway namespace, playing a container."""
    return netns_factory()


@pytest.fixture
def container_fd(container_ns: TestNetns) -> Iterator[int]:
    fd = os.open(container_ns.path, os.O_RDONLY | os.O_CLOEXEC)
    yield fd
    os.close(fd)


def arp_notify(ns: TestNetns, ifname: str = "eth0") -> str:
    """net.ipv4.conf.IFNAME.arp_notify as the namespace's /proc/sys shows it."""
    return ns.run("cat", f"/proc/sys/net/ipv4/conf/{ifname}/arp_notify").stdout.strip()


def link_json(ns: TestNetns, name: str) -> dict[str, Any] | None:
    """`ip -d -j link show NAME` in `ns`, or None when there is no such link."""
    proc = ns.run("ip", "-d", "-j", "link", "show", "dev", name, check=False)
    if proc.returncode != 0:
        return None
    return ns.ip_json("-d", "link", "show", "dev", name)[0]


def add_veth(ns: TestNetns, name: str) -> None:
    """A plain link made by iproute2 (this kernel has no dummy driver): NAME plus NAME-p."""
    ns.run("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}-p")


def link_names(ns: TestNetns) -> set[str]:
    return {str(link["ifname"]) for link in ns.ip_json("link", "show")}


def thread_netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check}")
        time.sleep(0.02)


# --- Netlink.open ---


def test_open_enters_the_namespace_and_restores_the_thread(
    host_ns: TestNetns, netns_fd: int
) -> None:
    add_veth(host_ns, "probe0")
    before = thread_netns_inode()
    with Netlink.open(netns_fd) as handle:
        assert thread_netns_inode() == before
        names = {link.name for link in list_links(handle)}
    assert names == {"lo", "probe0", "probe0-p"}


def test_open_without_fd_uses_the_current_namespace(host_ns: TestNetns) -> None:
    add_veth(host_ns, "probe0")
    code = (
        "from dockline.netlink import Netlink, list_links\n"
        "with Netlink.open() as nl:\n"
        "    print(' '.join(sorted(link.name for link in list_links(nl))))\n"
    )
    out = host_ns.run(sys.executable, "-c", code).stdout
    assert out.split() == ["lo", "probe0", "probe0-p"]


def test_open_restores_the_thread_when_the_fd_is_not_a_netns(tmp_path: Path) -> None:
    before = thread_netns_inode()
    not_a_netns = os.open(tmp_path / "plain", os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(KernelError) as caught:
            Netlink.open(not_a_netns)
        assert caught.value.errno == errno.EINVAL
        with pytest.raises(KernelError) as caught:
            Netlink.open(-1)  # a closed fd number could be reused by Netlink.open itself
        assert caught.value.errno == errno.EBADF
    finally:
        os.close(not_a_netns)
    assert thread_netns_inode() == before


def test_open_restores_the_thread_when_the_socket_fails_inside(netns_fd: int) -> None:
    """A real fault: no fd left for the socket, after the thread has entered the namespace."""
    import ctypes  # noqa: F401 - imported now so Netlink.open needs no fd for it

    before = thread_netns_inode()
    probe = os.open("/dev/null", os.O_RDONLY)
    os.close(probe)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (probe + 1, hard))  # room for one more fd only
    try:
        with pytest.raises(OSError) as caught:
            Netlink.open(netns_fd)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert caught.value.errno == errno.EMFILE
    assert thread_netns_inode() == before


# --- links ---


def test_get_link_returns_none_when_missing(nl: Netlink) -> None:
    assert get_link(nl, "nosuch0") is None
    assert get_link_by_index(nl, 9999) is None
    lo = get_link(nl, "lo")
    assert lo is not None
    assert get_link_by_index(nl, lo.index) == lo


def test_bad_names_are_rejected_before_the_kernel(nl: Netlink) -> None:
    bad_names = ("", "x" * 16, "é" * 8, ".", "..", "a/b", "a b", "a:b", "a\tb", "a\nb", "a\u00a0b")
    for bad in bad_names:
        with pytest.raises(InvalidArgument):
            get_link(nl, bad)
    with pytest.raises(InvalidArgument):
        create_veth(nl, "ok0", "x" * 16, peer_netns_fd=0)
    for bad_mac in ("02:42:ac:11:00", "zz:42:ac:11:00:02", "02-42-ac-11-00-02"):
        with pytest.raises(InvalidArgument):
            create_veth(nl, "ok0", "ok1", peer_netns_fd=0, peer_mac=bad_mac)
    assert get_link(nl, "ok0") is None


def test_ensure_bridge_creates_up_and_is_idempotent(host_ns: TestNetns, nl: Netlink) -> None:
    first = ensure_bridge(nl, "br-dl", mtu=1400)
    second = ensure_bridge(nl, "br-dl", mtu=1400)
    assert first == second
    shown = link_json(host_ns, "br-dl")
    assert shown is not None
    assert shown["linkinfo"]["info_kind"] == "bridge"
    assert shown["mtu"] == 1400
    assert "UP" in shown["flags"]
    assert shown["linkinfo"]["info_data"]["mcast_snooping"] == 0  # see _create_bridge
    assert (first.index, first.kind, first.up, first.mtu) == (
        shown["ifindex"],
        "bridge",
        True,
        1400,
    )


def test_a_bridge_made_with_a_mac_keeps_it_as_ports_join(host_ns: TestNetns, nl: Netlink) -> None:
    """Without one, a bridge takes its lowest port MAC (the control); with one, it keeps it."""
    for name, mac in (("br-fixed", "02:42:ac:11:00:01"), ("br-free", None)):
        bridge = ensure_bridge(nl, name, mac=mac)
        host_ns.run(
            "ip",
            "link",
            "add",
            f"{name}-p",
            "address",
            "02:00:00:00:00:00",
            "type",
            "veth",
            "peer",
            "name",
            f"{name}-q",
        )
        host_ns.run("ip", "link", "set", f"{name}-p", "master", name)
        shown = link_json(host_ns, name)
        assert shown is not None
        assert shown["address"] == (mac or "02:00:00:00:00:00"), name
        assert bridge.mac == (mac or bridge.mac)


def test_ensure_bridge_brings_an_existing_bridge_up(host_ns: TestNetns, nl: Netlink) -> None:
    host_ns.run("ip", "link", "add", "br-old", "type", "bridge")
    link = ensure_bridge(nl, "br-old")
    shown = link_json(host_ns, "br-old")
    assert shown is not None
    assert shown["linkinfo"]["info_data"]["mcast_snooping"] == 1  # not ours to change
    assert link.up
    assert "UP" in shown["flags"]
    assert link.index == shown["ifindex"]


def test_ensure_bridge_refuses_a_non_bridge(host_ns: TestNetns, nl: Netlink) -> None:
    add_veth(host_ns, "veth-br")
    with pytest.raises(Conflict):
        ensure_bridge(nl, "veth-br")


def test_create_veth_one_request_peer_born_in_target(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    bridge = ensure_bridge(nl, "br-dl")
    create_veth(
        nl,
        "veth-dl",
        "eth0",
        peer_netns_fd=container_fd,
        master=bridge.index,
        mtu=1400,
        peer_mac=PEER_MAC,
    )
    host = link_json(host_ns, "veth-dl")
    peer = link_json(container_ns, "eth0")
    assert host is not None
    assert peer is not None
    assert host["linkinfo"]["info_kind"] == "veth"
    assert host["master"] == "br-dl"
    assert "UP" in host["flags"]
    assert host["mtu"] == 1400
    assert peer["address"] == PEER_MAC
    assert peer["mtu"] == 1400
    # One queue each way from the start (what the kernel would shrink them to, after a wait).
    for end in (host, peer):
        assert (end["num_tx_queues"], end["num_rx_queues"]) == (1, 1)
    # Born down: the kernel cannot open an unpaired veth (see create_veth); configure_interface
    # brings it up.
    assert "UP" not in peer["flags"]
    assert "eth0" not in link_names(host_ns)
    assert "veth-dl" not in link_names(container_ns)


def test_list_links_fields(
    host_ns: TestNetns, container_fd: int, netns_fd: int, nl: Netlink
) -> None:
    bridge = ensure_bridge(nl, "br-dl")
    create_veth(nl, "va", "vb", peer_netns_fd=netns_fd, master=bridge.index)  # both ends here
    create_veth(nl, "vc", "eth0", peer_netns_fd=container_fd, peer_mac=PEER_MAC)
    links = {link.name: link for link in list_links(nl)}
    shown = {str(j["ifname"]): j for j in host_ns.ip_json("-d", "link", "show")}
    assert set(links) == set(shown) == {"lo", "br-dl", "va", "vb", "vc"}
    for name, link in links.items():
        j: Any = shown[name]
        assert (link.index, link.mtu, link.mac) == (j["ifindex"], j["mtu"], j["address"])
        assert link.up == ("UP" in j["flags"])
        assert link.kind == j.get("linkinfo", {}).get("info_kind")
        assert link.group == 0 and j["group"] == "default"
    assert links["va"].master == bridge.index and links["vb"].master is None
    assert links["va"].peer_index == links["vb"].index
    assert links["va"].peer_netnsid is None
    assert links["vc"].peer_netnsid == shown["vc"]["link_netnsid"]
    assert links["vc"].peer_index == shown["vc"]["link_index"]
    assert links["lo"].kind is None and links["lo"].peer_index is None


def test_create_veth_returns_the_peer_index_from_the_kernel_echo(
    container_ns: TestNetns, container_fd: int, netns_fd: int, nl: Netlink
) -> None:
    """The echo of RTM_NEWLINK (kernel 6.3+) names the peer's ifindex, in its own namespace."""
    index = create_veth(nl, "vc", "eth0", peer_netns_fd=container_fd)
    shown = {str(j["ifname"]): j for j in container_ns.ip_json("link", "show")}
    assert index == shown["eth0"]["ifindex"]
    here = create_veth(nl, "va", "vb", peer_netns_fd=netns_fd)  # both ends in one namespace
    vb = get_link(nl, "vb")
    assert vb is not None
    assert here == vb.index


def addr_gen_mode(ns: TestNetns, name: str) -> str:
    return str(ns.ip_json("-d", "link", "show", "dev", name)[0]["inet6_addr_gen_mode"])


def ipv6_addresses(ns: TestNetns, name: str) -> list[str]:
    shown: Any = ns.ip_json("-6", "addr", "show", "dev", name)  # [] when there are none
    return [str(a["local"]) for link in shown for a in link.get("addr_info", [])]


def configure_eth0(container_fd: int, index: int | None, **options: bool) -> None:
    """eth0 with 10.0.0.2/24 and no gateway, configured from inside its namespace."""
    with Netlink.open(container_fd) as inside:
        configure_interface(
            inside,
            "eth0",
            addresses=[ip_interface("10.0.0.2/24")],
            gateway=None,
            index=index,
            **options,
        )


@pytest.mark.parametrize("link_local", [True, False], ids=["link-local", "none"])
def test_configure_interface_ipv6_link_local_only_when_asked(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink, link_local: bool
) -> None:
    """`ipv6_link_local=False` (IPv4-only networks) leaves eth0 without an fe80:: address; the
    host end, made as the kernel makes links, gets one: waiting for it gives addrconf its time."""
    index = create_veth(nl, "vport", "eth0", peer_netns_fd=container_fd)
    configure_eth0(container_fd, index, ipv6_link_local=link_local)
    assert addr_gen_mode(container_ns, "eth0") == ("eui64" if link_local else "none")
    # the carrier reaches addrconf through linkwatch (up to a second later, more under load)
    wait_until(lambda: bool(ipv6_addresses(host_ns, "vport")), timeout=15)
    if link_local:
        wait_until(lambda: bool(ipv6_addresses(container_ns, "eth0")), timeout=15)
    else:
        assert ipv6_addresses(container_ns, "eth0") == []


def test_configure_interface_below_the_ipv6_minimum_mtu(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    """Below 1280 bytes a link has no IPv6 at all and the kernel refuses addrgenmode on it:
    no failure, since there is no link-local address to stop."""
    index = create_veth(nl, "vport", "eth0", peer_netns_fd=container_fd, mtu=1000)
    configure_eth0(container_fd, index, ipv6_link_local=False)
    eth0 = link_json(container_ns, "eth0")
    assert eth0 is not None and eth0["mtu"] == 1000 and "UP" in eth0["flags"]
    assert container_ns.ip_json("-4", "addr", "show", "dev", "eth0")[0]["addr_info"]


def test_create_veth_host_name_clash_leaves_nothing(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    host_ns.run("ip", "link", "add", "veth-dl", "type", "bridge")
    with pytest.raises(KernelError) as caught:
        create_veth(nl, "veth-dl", "eth0", peer_netns_fd=container_fd)
    assert caught.value.errno == errno.EEXIST
    assert link_names(container_ns) == {"lo"}
    assert link_names(host_ns) == {"lo", "veth-dl"}


def test_create_veth_peer_name_clash_leaves_nothing(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    container_ns.run("ip", "link", "add", "eth0", "type", "bridge")
    with pytest.raises(KernelError) as caught:
        create_veth(nl, "veth-dl", "eth0", peer_netns_fd=container_fd, peer_mac=PEER_MAC)
    assert caught.value.errno == errno.EEXIST
    assert link_names(host_ns) == {"lo"}
    assert link_names(container_ns) == {"lo", "eth0"}
    shown = link_json(container_ns, "eth0")
    assert shown is not None
    assert shown["linkinfo"]["info_kind"] == "bridge"


def test_set_link_up(host_ns: TestNetns, nl: Netlink) -> None:
    add_veth(host_ns, "d0")
    link = get_link(nl, "d0")
    assert link is not None and not link.up
    set_link_up(nl, link.index)
    shown = link_json(host_ns, "d0")
    assert shown is not None
    assert "UP" in shown["flags"]


def test_delete_link_and_missing_ok(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    create_veth(nl, "veth-dl", "eth0", peer_netns_fd=container_fd)
    delete_link(nl, "veth-dl")
    assert link_names(host_ns) == {"lo"}
    assert link_names(container_ns) == {"lo"}  # the peer goes with it
    delete_link(nl, "veth-dl", missing_ok=True)
    with pytest.raises(KernelError) as caught:
        delete_link(nl, "veth-dl")
    assert caught.value.is_missing


def test_delete_links_batch_with_missing(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    for i in range(3):
        create_veth(nl, f"veth{i}", f"eth{i}", peer_netns_fd=container_fd)
    failures = delete_links(nl, ["veth0", "gone0", "veth1", "veth2", "gone1"])
    assert failures == []
    assert link_names(host_ns) == {"lo"}
    assert link_names(container_ns) == {"lo"}
    assert delete_links(nl, []) == []


def test_delete_links_goes_on_past_an_undeletable_link(host_ns: TestNetns, nl: Netlink) -> None:
    add_veth(host_ns, "d0")
    add_veth(host_ns, "d1")
    failures = delete_links(nl, ["d0", "lo", "d1"])
    assert [(f.target, f.errno) for f in failures] == [("lo", errno.EOPNOTSUPP)]
    assert link_names(host_ns) == {"lo"}
    lo = link_json(host_ns, "lo")
    assert lo is not None
    assert lo["group"] == "default"


def test_a_batch_reports_each_failure_in_place_with_one_ack(
    host_ns: TestNetns, nl: Netlink
) -> None:
    """Only the last message asks for an ack; failures are reported wherever they are, the
    rest counts as done, and the socket stays in sync for the next request."""
    from dockline.netlink import links
    from dockline.netlink import messages as m
    from dockline.netlink.socket import Request

    add_veth(host_ns, "d0")
    add_veth(host_ns, "d1")
    up = [links._link_request(m.RTM_SETLINK, n, b"", "up") for n in ("d0", "d1")]
    gone = Request(up[0].msg.replace(b"d0", b"zz"), "up", "zz")  # same length, no such link
    results = nl._submit([gone, up[0], gone, up[1], gone])
    assert [r.errno if r else None for r in results] == [
        errno.ENODEV,
        None,
        errno.ENODEV,
        None,
        errno.ENODEV,
    ]
    assert nl._submit(up) == [None, None]
    assert get_link(nl, "d1") is not None


def test_delete_links_many_missing_spans_several_batches(nl: Netlink) -> None:
    assert delete_links(nl, [f"gone{i}" for i in range(300)]) == []


# --- addresses and routes ---


def test_add_and_list_addresses(host_ns: TestNetns, nl: Netlink) -> None:
    add_veth(host_ns, "d0")
    link = get_link(nl, "d0")
    assert link is not None
    v4, v6 = ip_interface("172.17.0.1/16"), ip_interface("fd00:d1::1/64")
    add_address(nl, link.index, v4)
    add_address(nl, link.index, v6, nodad=True)
    add_address(nl, link.index, v4, exist_ok=True)
    with pytest.raises(KernelError) as caught:
        add_address(nl, link.index, v4)
    assert caught.value.errno == errno.EEXIST
    info: Any = host_ns.ip_json("addr", "show", "dev", "d0")[0]["addr_info"]
    inet = [a for a in info if a["family"] == "inet"]
    assert len(inet) == 1
    assert (inet[0]["local"], inet[0]["prefixlen"]) == ("172.17.0.1", 16)
    assert inet[0]["broadcast"] == "172.17.255.255"
    assert inet[0]["scope"] == "global"
    inet6 = [a for a in info if a["family"] == "inet6"]
    assert [(a["local"], a["prefixlen"]) for a in inet6] == [("fd00:d1::1", 64)]
    assert "tentative" not in inet6[0]
    assert sorted(map(str, (a for _i, a in list_addresses(nl, link.index)))) == sorted(
        [str(v4), str(v6)]
    )
    everywhere = list_addresses(nl)
    assert (link.index, v4) in everywhere and (1, ip_interface("127.0.0.1/8")) in everywhere


def test_add_and_list_routes(host_ns: TestNetns, nl: Netlink) -> None:
    add_veth(host_ns, "d0")
    host_ns.run("ip", "link", "set", "d0-p", "up")
    link = get_link(nl, "d0")
    assert link is not None
    set_link_up(nl, link.index)
    add_address(nl, link.index, ip_interface("172.17.0.1/16"))
    add_address(nl, link.index, ip_interface("fd00:d1::1/64"), nodad=True)
    gateway, gateway6 = ip_address("172.17.0.254"), ip_address("fd00:d1::fe")
    add_route(nl, dst=None, gateway=gateway)
    add_route(nl, dst=ip_network("203.0.113.0/24"), gateway=gateway, oif=link.index)
    add_route(nl, dst=None, gateway=gateway6)
    add_route(nl, dst=None, gateway=gateway, exist_ok=True)
    with pytest.raises(KernelError) as caught:
        add_route(nl, dst=None, gateway=gateway)
    assert caught.value.errno == errno.EEXIST

    shown = {str(r["dst"]): r for r in host_ns.ip_json("route", "show")}
    assert shown["default"]["gateway"] == "172.17.0.254"
    assert shown["default"]["dev"] == "d0"
    assert shown["203.0.113.0/24"]["gateway"] == "172.17.0.254"
    shown6 = {str(r["dst"]): r for r in host_ns.ip_json("-6", "route", "show")}
    assert shown6["default"]["gateway"] == "fd00:d1::fe"

    routes = list_routes(nl)
    assert Route(ip_network("0.0.0.0/0"), gateway, link.index, 254) in routes
    assert Route(ip_network("203.0.113.0/24"), gateway, link.index, 254) in routes
    assert Route(ip_network("172.17.0.0/16"), None, link.index, 254) in routes
    assert len(routes) == len(host_ns.ip_json("route", "show", "table", "main"))
    assert Route(ip_network("::/0"), gateway6, link.index, 254) in list_routes(nl, socket.AF_INET6)


def test_add_route_rejects_mixed_families(nl: Netlink) -> None:
    with pytest.raises(InvalidArgument):
        add_route(nl, dst=ip_network("fd00::/64"), gateway=ip_address("172.17.0.1"))
    with pytest.raises(InvalidArgument):
        add_route(nl, dst=None, gateway=None, oif=1)


# --- configure_interface ---


def _attach(nl: Netlink, container_fd: int) -> int | None:
    bridge = ensure_bridge(nl, "br-dl")
    add_address(nl, bridge.index, ip_interface("172.17.0.1/16"), exist_ok=True)
    return create_veth(nl, "veth-dl", "eth0", peer_netns_fd=container_fd, master=bridge.index)


@pytest.mark.parametrize("index_known", [True, False], ids=["index-from-echo", "looked-up"])
def test_configure_interface(
    container_ns: TestNetns, container_fd: int, nl: Netlink, index_known: bool
) -> None:
    peer_index = _attach(nl, container_fd)
    assert peer_index is not None
    with Netlink.open(container_fd) as inside:
        index = configure_interface(
            inside,
            "eth0",
            addresses=[ip_interface("172.17.0.2/16"), ip_interface("fd00:d1::2/64")],
            gateway=ip_address("172.17.0.1"),
            index=peer_index if index_known else None,
        )
    eth0 = link_json(container_ns, "eth0")
    lo = link_json(container_ns, "lo")
    assert eth0 is not None and lo is not None
    assert eth0["ifindex"] == index
    assert "UP" in eth0["flags"] and "UP" in lo["flags"]
    info: Any = container_ns.ip_json("addr", "show", "eth0")[0]["addr_info"]
    addrs = {(a["local"], a["prefixlen"]) for a in info}
    assert {("172.17.0.2", 16), ("fd00:d1::2", 64)} <= addrs
    routes = {str(r["dst"]): r for r in container_ns.ip_json("route", "show")}
    assert routes["default"]["gateway"] == "172.17.0.1"
    assert routes["default"]["dev"] == "eth0"
    assert arp_notify(container_ns) == "1"
    # The whole path works: the container reaches its gateway across the bridge.
    wait_until(
        lambda: container_ns.run("ping", "-c1", "-W1", "172.17.0.1", check=False).returncode == 0
    )


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "silent"])
def test_configure_interface_announces_only_when_asked(
    host_ns: TestNetns, container_ns: TestNetns, container_fd: int, nl: Netlink, announce: bool
) -> None:
    """A peer's cached entry for the address is updated by the gratuitous ARP of `announce`;
    without it none is sent, yet arp_notify is on afterwards either way."""
    index = create_veth(nl, "p0", "eth0", peer_netns_fd=container_fd, peer_mac=PEER_MAC)
    host_ns.run("ip", "addr", "add", "10.0.0.1/24", "dev", "p0")
    stale = "02:00:00:00:00:99"
    host_ns.run("ip", "neigh", "add", "10.0.0.2", "lladdr", stale, "dev", "p0", "nud", "stale")
    configure_eth0(container_fd, index, announce=announce, ipv6_link_local=False)

    def cached() -> str:
        return str(host_ns.ip_json("neigh", "show", "10.0.0.2")[0]["lladdr"])

    if announce:
        wait_until(lambda: cached() == PEER_MAC)
    else:
        time.sleep(0.3)  # a gratuitous ARP would have arrived by now (see the other case)
        assert cached() == stale
    assert arp_notify(container_ns) == "1"


def test_configure_interface_without_arp_notify_or_gateway(
    container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    _attach(nl, container_fd)
    configure_eth0(container_fd, None, arp_notify=False)  # its index looked up
    assert arp_notify(container_ns) == "0"
    assert "default" not in {str(r["dst"]) for r in container_ns.ip_json("route", "show")}


def test_configure_interface_reports_the_failing_request_and_stays_in_sync(
    container_ns: TestNetns, container_fd: int, nl: Netlink
) -> None:
    _attach(nl, container_fd)
    with Netlink.open(container_fd) as inside:
        with pytest.raises(KernelError) as caught:
            configure_interface(
                inside,
                "eth0",
                addresses=[ip_interface("172.17.0.2/16")],
                gateway=ip_address("203.0.113.1"),  # not on any link: no route to it
            )
        assert caught.value.op == "add route"
        assert caught.value.errno == errno.ENETUNREACH
        # Every ack was read: the next request on the handle gets its own answer.
        eth0 = get_link(inside, "eth0")
        assert eth0 is not None and eth0.up
        with pytest.raises(KernelError) as missing:
            configure_interface(inside, "eth9", addresses=[], gateway=None)
        assert missing.value.is_missing
    info: Any = container_ns.ip_json("addr", "show", "eth0")[0]["addr_info"]
    assert "172.17.0.2" in {a["local"] for a in info}  # the batch went on past the failure


# --- benchmark, run by hand: .venv/bin/python tests/kernel/test_netlink.py ---


def _bench() -> None:  # pragma: no cover
    import secrets
    import statistics

    tag = secrets.token_hex(3)
    made: list[str] = []

    def netns() -> int:
        name = f"dlbench-{tag}-{len(made)}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        made.append(name)
        return os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)

    try:
        host_fd = netns()
        with Netlink.open(host_fd) as nl:
            bridge = ensure_bridge(nl, "br0")
            add_address(nl, bridge.index, ip_interface("172.17.0.1/16"))
            times: list[float] = []
            for i in range(50):
                fd = netns()
                start = time.perf_counter()
                create_veth(nl, f"veth{i}", "eth0", peer_netns_fd=fd, master=bridge.index)
                with Netlink.open(fd) as inside:
                    configure_interface(
                        inside,
                        "eth0",
                        addresses=[ip_interface(f"172.17.1.{i + 2}/16")],
                        gateway=ip_address("172.17.0.1"),
                    )
                times.append(time.perf_counter() - start)
                os.close(fd)
            print(
                f"attach (create_veth + Netlink.open + configure_interface): median "
                f"{statistics.median(times) * 1e3:.2f} ms, min {min(times) * 1e3:.2f} ms"
            )
            peer_fd = netns()
            for mode in ("one by one", "batched"):
                names = [f"vd{i}" for i in range(200)]
                for name in names:
                    create_veth(nl, name, f"p{name}", peer_netns_fd=peer_fd)
                start = time.perf_counter()
                if mode == "batched":
                    assert delete_links(nl, names) == []
                else:
                    for name in names:
                        delete_link(nl, name)
                elapsed = time.perf_counter() - start
                print(
                    f"delete 200 veths {mode}: {elapsed * 1e3:.0f} ms "
                    f"({elapsed * 1e3 / 200:.2f} ms each)"
                )
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False)


if __name__ == "__main__":
    _bench()
