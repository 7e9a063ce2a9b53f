"""The engine through its Python API, on the real kernel, in a throwaway host namespace.

The engine acts (`connect`, `disconnect`, `detach`, `gc`, `network`); `ip -j` inside the
namespaces, and sqlite3 on the store's file, check. Run with `-s` to see the attach timings.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
from engine_lab import Lab

from dockline import netns
from dockline.addr import IPv4Address, IPv4Interface, IPv4Network
from dockline.errors import Conflict, InvalidArgument, NotFound
from dockline.ipam import mac_from_ipv4
from nslab import TestNetns, delete_netns, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")

SUBNET = IPv4Network("172.17.0.0/16")
MANY = 200


def eth0(ns: TestNetns, ifname: str = "eth0") -> dict[str, object]:
    [link] = ns.ip_json("addr", "show", "dev", ifname)
    return link


def assert_attached(lab: Lab, ns: TestNetns, ip: str, *, ifname: str = "eth0") -> None:
    """The five steps, as `ip -j` sees them on both sides."""
    [endpoint] = [e for e in lab.engine.endpoints() if str(e.addresses[0].ip) == ip]
    host_end = lab.link(endpoint.host_ifname)
    assert host_end is not None and host_end["master"] == "dockline0"
    assert "UP" in host_end["flags"]
    # IPv4-only network: no IPv6 link-local address in the container
    [peer] = ns.ip_json("-d", "link", "show", "dev", ifname)
    assert peer["inet6_addr_gen_mode"] == "none"
    assert lab.ipv4(ns, ifname) == [f"{ip}/16"]
    routes = ns.ip_json("route", "show", "default")
    assert [(r["gateway"], r["dev"]) for r in routes] == [("172.17.0.1", ifname)]


def assert_nothing_attached(lab: Lab) -> None:
    assert lab.veths() == set()
    assert lab.count("endpoints") == 0
    assert lab.count("leases") == 0
    assert lab.engine.endpoints() == []


# -- connect and disconnect ------------------------------------------------------------------


def test_connect_and_disconnect_by_path(lab: Lab) -> None:
    ns = lab.container_ns()
    endpoint = lab.engine.connect("bridge", netns_path=ns.path)
    assert endpoint.addresses == (IPv4Interface("172.17.0.2/16"),)
    assert endpoint.netns.path == ns.path and endpoint.netns.pid is None
    assert_attached(lab, ns, "172.17.0.2")
    assert lab.veths() == {endpoint.host_ifname}
    assert lab.count("endpoints") == 1 and lab.count("leases") == 1
    [network] = lab.engine.networks()
    assert network.subnet == SUBNET and network.bridge == "dockline0"

    gone = lab.engine.disconnect("bridge", netns_path=ns.path)
    assert gone.id == endpoint.id
    assert_nothing_attached(lab)
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo"]


def test_connect_and_disconnect_by_pid(lab: Lab) -> None:
    proc = lab.lone()
    endpoint = lab.engine.connect("bridge", pid=proc.pid)
    assert endpoint.netns.pid == proc.pid
    assert endpoint.netns_link == proc.link
    assert os.readlink(proc.link) == f"/proc/{proc.pid}/ns/net"
    visible = TestNetns(str(proc.pid))  # `ip netns exec <pid>` works, as in the source document
    assert_attached(lab, visible, "172.17.0.2")
    assert lab.count("endpoints") == 1

    lab.engine.disconnect("bridge", pid=proc.pid)
    assert_nothing_attached(lab)
    assert not os.path.lexists(proc.link)
    assert [link["ifname"] for link in proc.ip_json("link", "show")] == ["lo"]


def test_addresses_are_sequential_and_macs_derived(lab: Lab) -> None:
    spaces = [lab.container_ns() for _ in range(3)]
    endpoints = [lab.engine.connect(netns_path=ns.path) for ns in spaces]
    ips = [str(e.addresses[0].ip) for e in endpoints]
    assert ips == ["172.17.0.2", "172.17.0.3", "172.17.0.4"]
    for ns, endpoint, ip in zip(spaces, endpoints, ips, strict=True):
        assert endpoint.mac == mac_from_ipv4(IPv4Address(ip))
        assert eth0(ns)["address"] == endpoint.mac
    assert endpoints[0].mac == "02:42:ac:11:00:02"
    leases = {row[1] for row in lab.rows("leases")}
    assert leases == set(ips)
    # A released address is not handed out again at once: the next one follows the last given.
    lab.engine.disconnect(netns_path=spaces[0].path)
    after = lab.engine.connect(netns_path=spaces[0].path)
    assert str(after.addresses[0].ip) == "172.17.0.5"


def test_connect_with_ip_mac_and_ifname(lab: Lab) -> None:
    ns = lab.container_ns()
    endpoint = lab.engine.connect(
        netns_path=ns.path, ip=IPv4Address("172.17.42.99"), mac="12:34:56:78:9a:bc", ifname="net0"
    )
    assert endpoint.ifname == "net0" and endpoint.mac == "12:34:56:78:9a:bc"
    link = eth0(ns, "net0")
    assert link["address"] == "12:34:56:78:9a:bc"
    assert_attached(lab, ns, "172.17.42.99", ifname="net0")
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo", "net0"]
    # The next dynamic address is not disturbed by a chosen one.
    other = lab.engine.connect(netns_path=lab.container_ns().path)
    assert str(other.addresses[0].ip) == "172.17.0.2"


def test_connect_takes_an_address_as_text_or_as_an_ipaddress_object(lab: Lab) -> None:
    import ipaddress

    first = lab.engine.connect(netns_path=lab.container_ns().path, ip="172.17.42.7")
    stdlib = ipaddress.IPv4Address("172.17.42.8")
    second = lab.engine.connect(netns_path=lab.container_ns().path, ip=stdlib)  # type: ignore[arg-type]
    assert [str(e.addresses[0]) for e in (first, second)] == ["172.17.42.7/16", "172.17.42.8/16"]
    with pytest.raises(InvalidArgument, match=r"invalid IP address 172\.17\.42\.300: expected"):
        lab.engine.connect(netns_path=lab.container_ns().path, ip="172.17.42.300")
    assert lab.count("endpoints") == 2 and lab.count("leases") == 2


def test_ifname_clash_in_the_namespace_is_a_conflict_and_leaves_nothing(lab: Lab) -> None:
    lab.engine.network()
    ns = lab.container_ns()
    ns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    before = lab.kernel_state()
    with pytest.raises(Conflict, match="eth0"):
        lab.engine.connect(netns_path=ns.path)
    assert_nothing_attached(lab)
    assert lab.kernel_state() == before
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo", "eth0p", "eth0"]
    assert lab.count("ipam_cursor") == 0  # the planned address was not consumed either


def test_ip_in_use_is_a_conflict_naming_it(lab: Lab) -> None:
    first = lab.engine.connect(netns_path=lab.container_ns().path)
    ns = lab.container_ns()
    taken = first.addresses[0].ip
    assert isinstance(taken, IPv4Address)
    with pytest.raises(Conflict, match=r"172\.17\.0\.2\b"):
        lab.engine.connect(netns_path=ns.path, ip=taken)
    assert lab.veths() == {first.host_ifname}
    assert lab.count("endpoints") == 1 and lab.count("leases") == 1
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo"]


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("10.0.0.2", "not in subnet"),
        ("172.17.0.1", "gateway"),
        ("172.17.0.0", "network address"),
        ("172.17.255.255", "broadcast"),
    ],
)
def test_unusable_ip_is_invalid_and_leaves_nothing(lab: Lab, ip: str, why: str) -> None:
    ns = lab.container_ns()
    with pytest.raises(InvalidArgument, match=why) as caught:
        lab.engine.connect(netns_path=ns.path, ip=IPv4Address(ip))
    assert ip in str(caught.value)
    assert_nothing_attached(lab)
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo"]


def test_disconnect_of_an_unknown_target_is_not_found(lab: Lab) -> None:
    with pytest.raises(NotFound, match="network"):  # nothing made yet: not even the network
        lab.engine.disconnect("bridge", netns_path=lab.container_ns().path)
    kept = lab.engine.connect(netns_path=lab.container_ns().path)
    with pytest.raises(NotFound, match="endpoint"):
        lab.engine.disconnect("bridge", netns_path=lab.container_ns().path)
    with pytest.raises(NotFound):
        lab.engine.disconnect("bridge", netns_path="/run/netns/dltest-no-such-namespace")
    proc = lab.lone()
    with pytest.raises(NotFound):
        lab.engine.disconnect("bridge", pid=proc.pid)
    with pytest.raises(NotFound, match="network"):
        lab.engine.disconnect("nosuch", netns_path=lab.container_ns().path)
    assert [e.id for e in lab.engine.endpoints()] == [kept.id]
    assert lab.veths() == {kept.host_ifname}


def test_disconnect_by_pid_after_the_process_exited(lab: Lab) -> None:
    proc = lab.lone()
    lab.engine.connect(pid=proc.pid)
    proc.stop()
    lab.engine.disconnect("bridge", pid=proc.pid)
    assert_nothing_attached(lab)
    assert not os.path.lexists(proc.link)


def test_a_deleted_bridge_is_made_again_with_its_firewall(lab: Lab) -> None:
    lab.engine.network()
    ruleset = lab.ruleset()
    lab.host.run("ip", "link", "del", "dockline0")
    lab.host.run("nft", "delete", "table", "inet", "dockline")
    endpoint = lab.engine.connect(netns_path=lab.container_ns().path)  # as after a reboot
    assert lab.ipv4(lab.host, "dockline0") == ["172.17.0.1/16"]
    assert lab.must_link(endpoint.host_ifname)["master"] == "dockline0"
    assert lab.ruleset() == ruleset


def test_a_remembered_bridge_index_now_taken_by_another_link_is_not_used(lab: Lab) -> None:
    """The engine remembers the bridge's ifindex; when the bridge is gone and its index is
    another device's, the kernel refuses the veth there and the engine readies the bridge again."""
    lab.engine.connect(netns_path=lab.container_ns().path)
    old_index = lab.must_link("dockline0")["ifindex"]
    lab.host.run("ip", "link", "del", "dockline0")
    lab.host.run(
        "ip", "link", "add", "impostor", "index", str(old_index), "type", "veth", "peer", "imp-peer"
    )
    endpoint = lab.engine.connect(netns_path=lab.container_ns().path)
    bridge = lab.must_link("dockline0")
    assert bridge["ifindex"] != old_index
    assert lab.must_link(endpoint.host_ifname)["master"] == "dockline0"
    assert lab.must_link("impostor")["ifindex"] == old_index
    assert not any(link.get("master") == "impostor" for link in lab.links())
    lab.host.run("ip", "link", "del", "impostor")


def test_the_gateway_mac_stays_as_containers_come_and_go(lab: Lab) -> None:
    """dockline0 has 02:42 + the gateway address as its MAC, whatever its ports' MACs are."""
    lab.engine.network()
    assert lab.must_link("dockline0")["address"] == "02:42:ac:11:00:01"
    first = lab.engine.connect(netns_path=lab.container_ns().path)
    lab.host.run("ip", "link", "set", first.host_ifname, "address", "02:00:00:00:00:00")
    lab.engine.connect(netns_path=lab.container_ns().path)
    assert lab.must_link("dockline0")["address"] == "02:42:ac:11:00:01"


def test_connect_normalises_the_mac(lab: Lab) -> None:
    ns = lab.container_ns()
    endpoint = lab.engine.connect(netns_path=ns.path, mac="12:34:56:78:9A:BC")
    assert eth0(ns)["address"] == "12:34:56:78:9a:bc"
    assert endpoint.mac == "12:34:56:78:9a:bc"
    assert [e.mac for e in lab.engine.endpoints()] == ["12:34:56:78:9a:bc"]


def test_connect_rejects_a_multicast_mac_before_the_kernel(lab: Lab) -> None:
    ns = lab.container_ns()
    with pytest.raises(InvalidArgument, match="01:00:5e:00:00:01"):
        lab.engine.connect(netns_path=ns.path, mac="01:00:5e:00:00:01")
    assert_nothing_attached(lab)


def test_connecting_twice_to_one_network_is_a_conflict(lab: Lab) -> None:
    ns = lab.container_ns()
    first = lab.engine.connect(netns_path=ns.path)
    with pytest.raises(Conflict, match="already"):
        lab.engine.connect(netns_path=ns.path, ifname="eth1")
    assert lab.veths() == {first.host_ifname}
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo", "eth0"]
    assert lab.count("endpoints") == 1 and lab.count("leases") == 1


def test_the_host_s_own_namespace_is_refused(lab: Lab) -> None:
    lab.engine.network()
    before = lab.kernel_state()
    with pytest.raises(InvalidArgument, match="host's own"):
        lab.engine.connect(netns_path=lab.host.path)
    with pytest.raises(InvalidArgument, match="host's own"):
        lab.engine.connect(pid=lab.lone(own_netns=False).pid)
    assert lab.kernel_state() == before
    assert lab.count("endpoints") == 0


def test_the_machine_s_initial_namespace_is_refused(lab: Lab) -> None:
    """Even from an engine in a namespace of its own, and where init's namespace cannot be read
    (as in this sandbox): the kernel's threads live in the initial namespace. Checked on the
    guard itself, not through `connect`: were the guard broken, connect would configure this
    machine's own network."""
    with open("/proc/2/comm") as f:
        if f.read().strip() != "kthreadd":
            pytest.skip("pid 2 is not kthreadd: a pid namespace of our own")
    kernel = netns.ref_for_pid(2)
    with pytest.raises(InvalidArgument, match="initial network namespace"):
        lab.engine.check_not_host(kernel)
    if os.readlink("/proc/self/ns/net") == os.readlink("/proc/2/ns/net"):  # the usual case
        with pytest.raises(InvalidArgument, match="initial network namespace"):
            lab.engine.check_not_host(netns.ref_for_pid(os.getpid()))
    lab.engine.check_not_host(netns.ref_for_path(lab.container_ns().path))  # a container's


# -- many at once ---------------------------------------------------------------------------


def test_connect_many_namespaces_through_the_api(lab: Lab) -> None:
    lab.engine.network()
    spaces = [lab.container_ns() for _ in range(MANY)]
    times = []
    endpoints = []
    for ns in spaces:
        start = time.perf_counter()
        endpoints.append(lab.engine.connect(netns_path=ns.path))
        times.append(time.perf_counter() - start)
    p50 = statistics.median(times) * 1000
    p90 = statistics.quantiles(times, n=10)[-1] * 1000
    print(f"\nengine.connect x{MANY} through the API: p50 {p50:.2f} ms, p90 {p90:.2f} ms")

    assert len({e.addresses[0] for e in endpoints}) == MANY
    assert len({e.mac for e in endpoints}) == MANY
    assert len({e.host_ifname for e in endpoints}) == MANY
    assert lab.veths() == {e.host_ifname for e in endpoints}
    assert lab.count("leases") == MANY and lab.count("endpoints") == MANY
    for ns, endpoint in zip(spaces[:: MANY // 10], endpoints[:: MANY // 10], strict=True):
        assert lab.ipv4(ns, "eth0") == [str(endpoint.addresses[0])]

    with lab.engine.store.transaction() as txn:
        assert lab.engine.detach(txn, endpoints) == []
    assert_nothing_attached(lab)


def test_detach_many_in_one_transaction(lab: Lab) -> None:
    spaces = [lab.container_ns() for _ in range(20)]
    endpoints = [lab.engine.connect(netns_path=ns.path) for ns in spaces]
    keep = lab.engine.connect(pid=lab.lone().pid)
    assert len(lab.veths()) == 21

    start = time.perf_counter()
    with lab.engine.store.transaction() as txn:
        failures = lab.engine.detach(txn, endpoints)
    print(f"\ndetach x20 in one transaction: {(time.perf_counter() - start) * 1000:.1f} ms")
    assert failures == []
    assert lab.veths() == {keep.host_ifname}
    assert [e.id for e in lab.engine.endpoints()] == [keep.id]
    assert [row[2] for row in lab.rows("leases")] == [keep.id]
    for ns in spaces:
        assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo"]


# -- gc ---------------------------------------------------------------------------------------


def test_gc_removes_the_endpoint_of_a_deleted_namespace(lab: Lab) -> None:
    doomed, alive = lab.container_ns(), lab.container_ns()
    gone = lab.engine.connect(netns_path=doomed.path)
    kept = lab.engine.connect(netns_path=alive.path)
    delete_netns(doomed)
    report = lab.engine.gc()
    assert report.endpoints == [gone.id] and report.errors == []
    assert [e.id for e in lab.engine.endpoints()] == [kept.id]
    assert [row[2] for row in lab.rows("leases")] == [kept.id]
    wait_until(lambda: lab.veths() == {kept.host_ifname}, what="the dead namespace's veth")
    assert_attached(lab, alive, str(kept.addresses[0].ip))


def test_gc_twice_is_a_no_op(lab: Lab) -> None:
    proc = lab.lone()
    lab.engine.connect(pid=proc.pid)
    proc.stop()
    first = lab.engine.gc()
    assert len(first.endpoints) == 1 and first.netns_links == []  # the record took its link
    assert not os.path.lexists(proc.link)
    store_before = lab.store_state()
    kernel_before = lab.kernel_state()
    second = lab.engine.gc()
    assert (second.endpoints, second.links, second.netns_links, second.containers) == (
        [],
        [],
        [],
        [],
    )
    assert second.errors == []
    assert lab.store_state() == store_before
    assert lab.kernel_state() == kernel_before


def test_gc_leaves_live_endpoints_alone(lab: Lab) -> None:
    ns = lab.container_ns()
    by_path = lab.engine.connect(netns_path=ns.path)
    proc = lab.lone()
    by_pid = lab.engine.connect(pid=proc.pid)
    store_before = lab.store_state()
    report = lab.engine.gc()
    assert report.endpoints == [] and report.links == [] and report.netns_links == []
    assert lab.store_state() == store_before
    assert lab.veths() == {by_path.host_ifname, by_pid.host_ifname}
    assert os.readlink(proc.link) == f"/proc/{proc.pid}/ns/net"
    assert_attached(lab, ns, str(by_path.addresses[0].ip))


def test_gc_removes_a_dangling_pid_link_without_a_record(lab: Lab) -> None:
    proc = lab.lone()
    lab.engine.connect(pid=proc.pid)
    with lab.engine.store.transaction() as txn:  # as if the record were lost: keep the link
        [endpoint] = txn.list_endpoints()
        txn.release_leases(endpoint.id)
        txn.delete_endpoint(endpoint.id)
    proc.stop()
    assert os.path.islink(proc.link) and not os.path.exists(proc.link)
    report = lab.engine.gc()
    assert report.netns_links == [proc.link]
    assert not os.path.lexists(proc.link)


# -- the default network's subnet --------------------------------------------------------------


def test_default_subnet_in_a_clean_namespace(lab: Lab) -> None:
    network = lab.engine.network()
    assert (network.subnet, network.gateway) == (SUBNET, IPv4Address("172.17.0.1"))
    assert lab.ipv4(lab.host, "dockline0") == ["172.17.0.1/16"]
    assert lab.engine.network().id == network.id  # made once


def test_default_subnet_skips_a_pool_the_host_routes(lab: Lab) -> None:
    lab.host.run("ip", "link", "add", "vlan17", "type", "veth", "peer", "name", "vlan17p")
    lab.host.run("ip", "link", "set", "vlan17", "up")
    lab.host.run("ip", "route", "add", "172.17.0.0/16", "dev", "vlan17")
    network = lab.engine.network()
    assert network.subnet == IPv4Network("172.18.0.0/16")
    assert lab.ipv4(lab.host, "dockline0") == ["172.18.0.1/16"]
    endpoint = lab.engine.connect(netns_path=lab.container_ns().path)
    assert endpoint.addresses == (IPv4Interface("172.18.0.2/16"),)
