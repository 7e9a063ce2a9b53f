"""The five steps and the bridge run mode, through the CLI, checked with `ip -j`."""

from __future__ import annotations

import json
import re
import subprocess

from e2e_helpers import Dockline

from nslab import TestNetns, wait_until


def sandbox(dl: Dockline, name: str) -> TestNetns:
    """The container's namespace as `ip netns` sees it (dockline-<short id>)."""
    key = dl.inspect(name)["NetworkSettings"]["SandboxKey"]
    assert key.startswith("/run/netns/dockline-")
    return TestNetns(key.rsplit("/", 1)[1])


def test_default_bridge_is_made_on_first_use(dl: Dockline) -> None:
    out = dl("network", "ls").stdout
    assert "bridge" in out and "dockline0" in out and "172.17.0.0/16" in out
    assert dl("network", "ls", "-q").stdout == dl.network()["Id"][:12] + "\n"
    assert dl.network()["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    [bridge] = [link for link in dl.host_links() if link["ifname"] == "dockline0"]
    assert "UP" in bridge["flags"]
    addrs = dl.ns.ip_json("-4", "addr", "show", "dockline0")[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in addrs] == [("172.17.0.1", 16)]
    assert dl.ns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert "table inet dockline" in dl.ns.run("nft", "list", "tables").stdout


def test_five_steps_for_a_detached_container(dl: Dockline) -> None:
    dl("run", "-d", "--name", "ca", "--", "sleep", "300")
    info = dl.inspect("ca")
    settings = info["NetworkSettings"]
    assert info["State"]["Running"] and info["State"]["Pid"] > 0
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert settings["IPAddress"] == "172.17.0.2" and settings["IPPrefixLen"] == 16
    assert settings["Gateway"] == "172.17.0.1"
    assert settings["MacAddress"] == "02:42:ac:11:00:02"  # step 4: derived from the IP
    # Docker's documented way to get the address, as users type it
    ip_of = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    assert dl("inspect", "-f", ip_of, "ca").stdout == "172.17.0.2\n"
    ns = sandbox(dl, "ca")
    # steps 1-2: host end veth + 7 hex, on the bridge, up
    host_end = settings["Networks"]["bridge"]["HostInterface"]
    assert re.fullmatch(r"veth[0-9a-f]{7}", host_end)
    [link] = dl.ns.ip_json("-d", "link", "show", host_end)
    assert link["master"] == "dockline0" and "UP" in link["flags"]
    assert link["linkinfo"]["info_kind"] == "veth"
    # step 3: the peer is eth0 inside the container's namespace, with step 4's MAC
    [eth0] = ns.ip_json("addr", "show", "eth0")
    assert eth0["address"] == "02:42:ac:11:00:02" and "UP" in eth0["flags"]
    # step 5: address, lo up, default route via the bridge IP
    assert [(a["local"], a["prefixlen"]) for a in eth0["addr_info"] if a["family"] == "inet"] == [
        ("172.17.0.2", 16)
    ]
    # an IPv4-only network: no IPv6 link-local address chattering on the bridge
    assert [a for a in eth0["addr_info"] if a["family"] == "inet6"] == []
    [lo] = ns.ip_json("link", "show", "lo")
    assert "UP" in lo["flags"]
    routes = ns.ip_json("route", "show", "default")
    assert [(r["gateway"], r["dev"]) for r in routes] == [("172.17.0.1", "eth0")]
    assert ns.run("cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify").stdout.strip() == "1"


def test_listings_and_templates_as_docker_users_type_them(dl: Dockline) -> None:
    dl("run", "-d", "--name", "ca", "--", "sleep", "300")
    full_id = dl.inspect("ca")["Id"]
    table = dl("ps", "--format", "table {{.Names}}\\t{{.State}}\\t{{.Command}}").stdout
    assert table.splitlines() == ["NAMES     STATE     COMMAND", 'ca        running   "sleep 300"']
    assert dl("ps", "-q", "--no-trunc").stdout == full_id + "\n"
    [row] = [json.loads(line) for line in dl("ps", "--format", "json").stdout.splitlines()]
    assert row["ID"] == full_id[:12] and row["Command"] == '"sleep 300"'
    assert row["RunningFor"].endswith(" ago") and re.fullmatch(
        r"\d{4}-.* \+\d{4} \w+", row["CreatedAt"]
    )
    # a template written for `docker ps` finds every field, empty where dockline has no value
    empty, default = dl("ps", "--format", "").stdout, dl("ps").stdout  # as Docker: the table
    assert empty.splitlines()[0] == default.splitlines()[0] and len(empty.splitlines()) == 2
    habit = dl("ps", "--format", "table {{.Names}}\\t{{.Image}}\\t{{.Ports}}\\t{{.State}}").stdout
    assert habit.splitlines() == ["NAMES     IMAGE     PORTS     STATE", "ca                            running"]  # fmt: skip
    [net] = [
        json.loads(line) for line in dl("network", "ls", "--format", "json").stdout.splitlines()
    ]
    assert net["IPv6"] == "false" and net["CreatedAt"][:2] == "20" and net["Name"] == "bridge"
    net_ip = '{{(index .NetworkSettings.Networks "bridge").IPAddress}}'
    assert dl("inspect", "-f", net_ip, "ca").stdout == "172.17.0.2\n"
    assert dl("inspect", "-f", "{{if .State.Running}}up{{end}} {{.State.Pid | printf \"%d\"}}", "ca").stdout.startswith("up ")  # fmt: skip
    assert dl("network", "ls", "--format", "{{.Name}}: {{.Subnet}}").stdout == "bridge: 172.17.0.0/16\n"  # fmt: skip
    assert dl("network", "inspect", "-f", "{{len .Containers}}", "bridge").stdout == "1\n"
    compact = dl("inspect", "-f", "json", "ca").stdout  # as Docker's: JSON, on one line
    assert json.loads(compact)[0]["Name"] == "/ca" and compact.count("\n") == 1
    both = dl("network", "inspect", "--format", "json", "bridge", "ghost", check=False)
    assert both.returncode == 1 and "no such network: ghost" in both.stderr
    assert [n["Name"] for n in json.loads(both.stdout)] == ["bridge"]  # the found, then errors
    assert dl("inspect", "--type", "network", "-f", "{{.Name}}", "bridge").stdout == "bridge\n"
    wrong_type = dl("inspect", "--type", "container", "bridge", check=False)
    assert wrong_type.returncode == 1 and "no such container: bridge" in wrong_type.stderr
    dl("run", "--name", "done", "--", "true")
    names = "{{.Names}}"
    assert dl("ps", "-a", "--format", names).stdout.split() == ["done", "ca"]  # newest first
    assert dl("ps", "--format", names, "-f", "status=exited").stdout == "done\n"
    assert dl("ps", "--format", names, "-f", "name=^/c", "-f", "network=bridge").stdout == "ca\n"
    for whole_name in ("^ca$", "^/ca$"):  # Docker matches the name with and without its /
        assert dl("ps", "--format", names, "-f", f"name={whole_name}").stdout == "ca\n"
    assert dl("ps", "-a", "--format", names, "-f", "name=a$", "-f", "name=e$").stdout.split() == ["done", "ca"]  # fmt: skip
    assert dl("ps", "--format", names, "-l").stdout == "done\n"
    assert dl("ps", "-q", "-f", f"id={full_id[20:30]}").stdout == full_id[:12] + "\n"
    assert dl("network", "ls", "-q", "-f", "name=ridg", "-f", "driver=bridge").stdout.strip()
    assert dl("network", "ls", "-q", "-f", "name=nope").stdout == ""
    bad_filter = dl("ps", "-f", "status=up", check=False)
    assert bad_filter.returncode != 0 and "invalid filter status=up" in bad_filter.stderr
    bad = dl("ps", "--format", "{{.Bogus}}", check=False)
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["dockline: invalid format '{{.Bogus}}': no field 'Bogus'"]  # fmt: skip


def test_default_gateway_is_docker_s_auxiliary_address(dl: Dockline) -> None:
    """`network inspect` shows daemon.json's default-gateway as Docker does: a map in
    IPAM.Config[0].AuxiliaryAddresses (a key left out when there is none)."""
    dl.config(bip="10.99.0.1/24", **{"default-gateway": "10.99.0.254"})
    [config] = dl.network()["IPAM"]["Config"]
    assert config == {
        "Subnet": "10.99.0.0/24",
        "Gateway": "10.99.0.1",
        "AuxiliaryAddresses": {"DefaultGatewayIPv4": "10.99.0.254"},
    }


def test_network_is_ready_before_the_command_starts(dl: Dockline) -> None:
    out = dl("run", "--rm", "--", "sh", "-c", "ip -4 -o addr show eth0; ip route").stdout
    assert "172.17.0.2/16" in out and "default via 172.17.0.1" in out


def test_two_containers_ping_each_other(dl: Dockline) -> None:
    dl("run", "-d", "--name", "ca", "--", "sleep", "300")
    dl("run", "-d", "--name", "cb", "--", "sleep", "300")
    b_ip = dl.inspect("cb")["NetworkSettings"]["IPAddress"]
    a_ip = dl.inspect("ca")["NetworkSettings"]["IPAddress"]
    assert a_ip != b_ip
    assert dl("exec", "ca", "ping", "-c", "1", "-W", "2", b_ip).returncode == 0
    assert dl("exec", "-it", "cb", "ping", "-c", "1", "-W", "2", a_ip).returncode == 0  # habit


def test_ip_and_mac_flags(dl: Dockline) -> None:
    dl(
        "run",
        "-d",
        "--name",
        "ca",
        "--ip",
        "172.17.3.4",
        "--mac-address",
        "12:34:56:78:9A:BC",
        "--",
        "sleep",
        "300",
    )
    [eth0] = sandbox(dl, "ca").ip_json("addr", "show", "eth0")
    assert eth0["address"] == "12:34:56:78:9a:bc"
    assert any(a["local"] == "172.17.3.4" for a in eth0["addr_info"])


def test_addresses_are_handed_out_in_order_and_not_reused_at_once(dl: Dockline) -> None:
    dl("run", "-d", "--name", "ca", "--", "sleep", "300")
    dl("rm", "-f", "ca")
    dl("run", "-d", "--name", "cb", "--", "sleep", "300")
    assert dl.inspect("cb")["NetworkSettings"]["IPAddress"] == "172.17.0.3"


def test_reused_ip_gets_the_same_mac_so_arp_caches_stay_right(dl: Dockline) -> None:
    dl("run", "-d", "--name", "peer", "--", "sleep", "300")
    dl("run", "-d", "--name", "first", "--ip", "172.17.0.40", "--", "sleep", "300")
    dl("exec", "peer", "ping", "-c", "1", "-W", "2", "172.17.0.40")
    neigh = sandbox(dl, "peer").ip_json("neigh", "show", "172.17.0.40")
    assert neigh[0]["lladdr"] == "02:42:ac:11:00:28"
    dl("rm", "-f", "first")
    dl("run", "-d", "--name", "second", "--ip", "172.17.0.40", "--", "sleep", "300")
    assert dl.inspect("second")["NetworkSettings"]["MacAddress"] == "02:42:ac:11:00:28"
    # the peer's cached entry is still right: the new container answers at once
    assert dl("exec", "peer", "ping", "-c", "1", "-W", "2", "172.17.0.40").returncode == 0


def test_rm_flag_leaves_nothing(dl: Dockline) -> None:
    dl("network", "ls")
    before = dl.veths()
    assert dl("run", "--rm", "--", "true").returncode == 0
    assert dl("ps", "-aq").stdout.strip() == ""
    assert dl.network()["Containers"] == {}
    wait_until(lambda: dl.veths() == before, what="the veth pair to go with the namespace")
    assert not [n for n in _run_netns() if n.startswith("dockline-")]


def test_detached_container_cleans_up_when_it_exits(dl: Dockline) -> None:
    dl("run", "-d", "--name", "brief", "--", "sleep", "0.3")
    wait_until(lambda: dl.inspect("brief")["State"]["Status"] == "exited", what="exit")
    wait_until(lambda: dl.network()["Containers"] == {}, what="endpoint release")
    wait_until(lambda: dl.veths() == [], what="veth removal")
    assert dl.inspect("brief")["State"]["ExitCode"] == 0


def _run_netns() -> list[str]:
    return subprocess.run(["ls", "/run/netns"], capture_output=True, text=True).stdout.split()


def test_a_chosen_mac_is_announced_so_caches_update(dl: Dockline) -> None:
    """arp_notify: a container whose MAC does not follow its IP announces itself when it comes
    up (a derived MAC needs no announcement: no cache can hold another MAC for that IP)."""
    dl("run", "-d", "--name", "peer", "--", "sleep", "300")
    dl("run", "-d", "--name", "first", "--ip", "172.17.0.40", "--", "sleep", "300")
    dl("exec", "peer", "ping", "-c", "1", "-W", "2", "172.17.0.40")
    peer = sandbox(dl, "peer")
    assert peer.ip_json("neigh", "show", "172.17.0.40")[0]["lladdr"] == "02:42:ac:11:00:28"
    dl("rm", "-f", "first")
    dl(
        "run",
        "-d",
        "--name",
        "second",
        "--ip",
        "172.17.0.40",
        "--mac-address",
        "02:00:00:00:00:77",
        "--",
        "sleep",
        "300",
    )

    def peer_learned_the_new_mac() -> bool:
        entries = peer.ip_json("neigh", "show", "172.17.0.40")
        return bool(entries) and entries[0].get("lladdr") == "02:00:00:00:00:77"

    wait_until(peer_learned_the_new_mac, what="the gratuitous ARP to update the peer's cache")
