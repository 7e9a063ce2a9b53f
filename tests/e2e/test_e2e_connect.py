"""The source document's manual procedure as one command, gc after crashes, and concurrency."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from e2e_helpers import Dockline

from nslab import TestNetns, wait_until


class Lone:
    """A process with an unconfigured netns, started by something else (`unshare -n`)."""

    def __init__(self, host: TestNetns) -> None:
        # The process says when it is in its own namespace (before that it is in the root's, then
        # the host's): only then may it be connected.
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                host.name,
                "unshare",
                "--net",
                "sh",
                "-c",
                "echo ready; exec sleep 300",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.proc.stdout.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pid_alive(self) -> bool:
        return self.proc.poll() is None

    def netns(self) -> TestNetns:
        return TestNetns(str(self.pid))  # the name `network connect --pid` gives it

    def stop(self) -> None:
        if self.pid_alive():
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def lone(dl: Dockline) -> Iterator[Lone]:
    made: list[Lone] = []
    yield _factory(dl, made)()
    for p in made:
        p.stop()


def _factory(dl: Dockline, made: list[Lone]) -> Callable[[], Lone]:
    class Tracked(Lone):
        def __init__(self) -> None:
            super().__init__(dl.ns)
            made.append(self)

    return Tracked


def test_connect_by_pid_runs_the_five_steps(dl: Dockline, lone: Lone) -> None:
    out = dl("network", "connect", "bridge", "--pid", str(lone.pid)).stdout
    assert "172.17.0.2/16" in out
    assert os.readlink(f"/run/netns/{lone.pid}") == f"/proc/{lone.pid}/ns/net"
    [eth0] = lone.netns().ip_json("addr", "show", "eth0")
    assert eth0["address"] == "02:42:ac:11:00:02"
    routes = lone.netns().ip_json("route", "show", "default")
    assert routes[0]["gateway"] == "172.17.0.1"
    assert dl.ns.run("ping", "-c", "1", "-W", "2", "172.17.0.2").returncode == 0
    [attached] = dl.network()["Containers"].values()
    assert attached["IPv4Address"] == "172.17.0.2/16"
    assert re.fullmatch(r"veth[0-9a-f]{7}", attached["HostInterface"])


def test_connect_with_ip_mac_and_ifname(dl: Dockline, lone: Lone) -> None:
    dl(
        "network",
        "connect",
        "bridge",
        "--pid",
        str(lone.pid),
        "--ip",
        "172.17.42.99",
        "--mac-address",
        "12:34:56:78:9a:bc",
        "--ifname",
        "net0",
    )
    [net0] = lone.netns().ip_json("addr", "show", "net0")
    assert net0["address"] == "12:34:56:78:9a:bc"
    assert any(a["local"] == "172.17.42.99" for a in net0["addr_info"])


def test_disconnect_undoes_connect(dl: Dockline, lone: Lone) -> None:
    dl("network", "connect", "bridge", "--pid", str(lone.pid))
    dl("network", "disconnect", "bridge", "--pid", str(lone.pid))
    assert dl.veths() == []
    assert not os.path.lexists(f"/run/netns/{lone.pid}")
    inside = subprocess.run(
        ["nsenter", "-t", str(lone.pid), "-n", "ip", "-o", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line.split(": ")[1] for line in inside.splitlines()] == ["lo"]
    assert dl.network()["Containers"] == {}


def test_the_cli_leaves_the_store_log_to_the_next_writer(dl: Dockline, lone: Lone) -> None:
    """A CLI call does not checkpoint and delete SQLite's write-ahead log on exit (fsyncs, and a
    new log for the next call); the next process reads the log and sees every commit."""
    dl("network", "connect", "bridge", "--pid", str(lone.pid))
    wal = dl.state / "lib" / "dockline.db-wal"
    assert wal.exists() and wal.stat().st_size > 0
    assert oct(wal.stat().st_mode & 0o777) == "0o600"
    [endpoint] = dl.network()["Containers"].values()
    assert endpoint["IPv4Address"] == "172.17.0.2/16"
    dl("network", "disconnect", "bridge", "--pid", str(lone.pid))
    assert dl.network()["Containers"] == {}


def test_connect_by_netns_path(dl: Dockline, netns_factory: Callable[[], TestNetns]) -> None:
    other = netns_factory()
    dl("network", "connect", "bridge", "--netns", other.path)
    assert any(
        a["local"] == "172.17.0.2" for a in other.ip_json("addr", "show", "eth0")[0]["addr_info"]
    )
    dl("network", "disconnect", "bridge", "--netns", other.path)
    assert [link["ifname"] for link in other.ip_json("link", "show")] == ["lo"]
    assert dl.veths() == []


def test_process_exit_takes_its_network_and_gc_clears_the_rest(dl: Dockline, lone: Lone) -> None:
    dl("network", "connect", "bridge", "--pid", str(lone.pid))
    lone.stop()
    wait_until(lambda: dl.veths() == [], what="the veth to go with the namespace")
    report = dl("gc", "--format", "json").stdout
    assert '"Endpoints": ["' in report
    assert not os.path.lexists(f"/run/netns/{lone.pid}")
    assert dl.network()["Containers"] == {}
    assert '"Endpoints": []' in dl("gc", "--format", "json").stdout  # twice is a no-op


def test_gc_clears_what_a_crash_in_the_first_connect_left(dl: Dockline, lone: Lone) -> None:
    """A kill -9 before the first connect's commit leaves the kernel's side (bridge, veth,
    firewall table) and an empty store: what a second state root sees of another's connect.
    (The /run/netns link is the first store's, by its mark: not the second's to remove.)"""
    dl("network", "connect", "bridge", "--pid", str(lone.pid))
    crashed = Dockline(dl.ns, dl.state.parent / "crashed")  # the same kernel, an empty store
    report = json.loads(crashed("gc", "--format", "json").stdout)
    assert "dockline0" in report["Links"] and report["NetnsLinks"] == []
    names = {str(link["ifname"]) for link in dl.host_links()}
    assert "dockline0" not in names and not [n for n in names if n.startswith("veth")]
    assert "dockline" not in dl.ns.run("nft", "list", "tables").stdout
    assert [link["ifname"] for link in lone.netns().ip_json("link", "show")] == ["lo"]


# `network connect` as the console script runs it, killed (SIGKILL) right before its COMMIT: the
# moment a crash leaves the most behind (the veth, the /run/netns link), caused for real.
KILLED_BEFORE_COMMIT = """
import os, signal, sys
from dockline.store import sqlite
sqlite.SqliteStore._commit = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
from dockline.cli.main import entry
sys.argv = ["dockline", "network", "connect", "bridge", "--pid", sys.argv[1]]
entry()
"""


def test_gc_removes_the_link_of_a_connect_killed_before_its_commit(
    dl: Dockline, lone: Lone
) -> None:
    """The process lives on, so its link does not dangle; it is dockline's (marked), and no
    record names it: gc removes it, with the veth, and leaves a user's own link alone."""
    first, other = Lone(dl.ns), Lone(dl.ns)  # connected as usual; linked by hand
    by_hand = f"/run/netns/{other.pid}"
    try:
        dl("network", "connect", "bridge", "--pid", str(first.pid))
        [kept] = dl.veths()
        os.symlink(f"/proc/{other.pid}/ns/net", by_hand)  # the source document's way
        argv = ["ip", "netns", "exec", dl.ns.name, sys.executable, "-c", KILLED_BEFORE_COMMIT]
        killed = subprocess.run([*argv, str(lone.pid)], env=dl.env, capture_output=True, text=True)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        link = f"/run/netns/{lone.pid}"
        assert os.readlink(link) == f"/proc/{lone.pid}/ns/net" and lone.pid_alive()
        assert len(dl.veths()) == 2 and len(dl.network()["Containers"]) == 1
        report = json.loads(dl("gc", "--format", "json").stdout)
        assert report["NetnsLinks"] == [link]
        assert not os.path.lexists(link) and dl.veths() == [kept]
        assert os.path.lexists(by_hand) and os.path.lexists(f"/run/netns/{first.pid}")
        dl("network", "connect", "bridge", "--pid", str(lone.pid))  # as if nothing had happened
        assert json.loads(dl("gc", "--format", "json").stdout)["NetnsLinks"] == []
    finally:
        if os.path.lexists(by_hand):
            os.unlink(by_hand)
        first.stop()
        other.stop()


def test_gc_releases_an_endpoint_whose_veth_is_gone(dl: Dockline, lone: Lone) -> None:
    """A crash mid-disconnect (or a veth deleted by hand) leaves a record and a lease with
    nothing behind them: gc releases them, or the address stays taken for good."""
    dl("network", "connect", "bridge", "--pid", str(lone.pid))
    [veth] = dl.veths()
    dl.ns.run("ip", "link", "del", veth)
    report = json.loads(dl("gc", "--format", "json").stdout)
    assert len(report["Endpoints"]) == 1
    assert dl.network()["Containers"] == {}
    assert lone.pid_alive()  # the process is alone with lo now; it may be connected again
    dl("network", "connect", "bridge", "--pid", str(lone.pid))


def test_gc_after_kill_9_of_container_and_monitor(dl: Dockline) -> None:
    dl("run", "-d", "--name", "victim", "--", "sleep", "300")
    pid = dl.inspect("victim")["State"]["Pid"]
    monitor = _parent(pid)
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), what="the container to die")
    assert dl.network()["Containers"] != {}  # nobody cleaned up yet
    dl("gc")
    assert dl.inspect("victim")["State"]["Status"] == "exited"
    assert dl.network()["Containers"] == {}
    wait_until(lambda: dl.veths() == [], what="veth removal")
    assert not [n for n in os.listdir("/run/netns") if n.startswith("dockline-")]


def test_stop_cleans_up_when_the_monitor_was_killed(dl: Dockline) -> None:
    dl("run", "-d", "--name", "orphan", "--", "sleep", "300")
    pid = dl.inspect("orphan")["State"]["Pid"]
    os.kill(_parent(pid), signal.SIGKILL)
    dl("gc")
    assert dl.inspect("orphan")["State"]["Running"]  # gc leaves a live container alone
    sandbox = dl.inspect("orphan")["NetworkSettings"]["SandboxKey"]
    assert os.path.islink(sandbox)  # its /run/netns link too: marked as ours, and recorded
    dl("stop", "-t", "0", "orphan")
    assert dl.inspect("orphan")["State"]["Status"] == "exited"
    assert dl.network()["Containers"] == {}


def test_the_monitor_waits_as_a_bare_interpreter_and_forwards_signals(dl: Dockline) -> None:
    script = "trap 'exit 42' USR1; echo ready; while :; do sleep 0.1; done"
    dl("run", "-d", "--name", "box", "--", "sh", "-c", script)
    pid = dl.inspect("box")["State"]["Pid"]
    monitor = _parent(pid)
    # exec'd into waiter.py: no site, no environment, nothing held but stdio (the log)
    with open(f"/proc/{monitor}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[1:3] == [b"-I", b"-S"]
    assert argv[3].endswith(b"/dockline/runtime/waiter.py")
    assert sorted(os.listdir(f"/proc/{monitor}/fd"), key=int) == ["0", "1", "2"]
    wait_until(lambda: "ready" in dl("logs", "box").stdout, what="the trap to be set")
    os.kill(monitor, signal.SIGUSR1)
    wait_until(lambda: not os.path.exists(f"/proc/{monitor}"), what="the monitor's teardown")
    state = dl.inspect("box")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 42)
    assert dl.network()["Containers"] == {}
    assert not [n for n in os.listdir("/run/netns") if n.startswith("dockline-")]


def test_gc_removes_unrecorded_veths_on_our_bridge_only(dl: Dockline) -> None:
    dl("network", "ls")
    dl.ns.run("ip", "link", "add", "vethdead001", "type", "veth", "peer", "name", "p1")
    dl.ns.run("ip", "link", "set", "vethdead001", "master", "dockline0")
    dl.ns.run("ip", "link", "add", "vethdead002", "type", "veth", "peer", "name", "p2")
    dl.ns.run("ip", "link", "add", "mine0", "type", "veth", "peer", "name", "p3")
    dl.ns.run("ip", "link", "set", "mine0", "master", "dockline0")
    dl("gc")
    names = {str(link["ifname"]) for link in dl.host_links()}
    assert "vethdead001" not in names
    assert {"vethdead002", "mine0"} <= names


def test_fifty_concurrent_connects_get_distinct_addresses(dl: Dockline) -> None:
    dl("network", "ls")
    procs = [Lone(dl.ns) for _ in range(50)]
    try:
        runs = [dl.popen("network", "connect", "bridge", "--pid", str(p.pid)) for p in procs]
        results = [(r.wait(timeout=120), r.stdout.read() if r.stdout else "") for r in runs]
        assert [code for code, _ in results] == [0] * 50, results
        attached = dl.network()["Containers"].values()
        assert len({a["IPv4Address"] for a in attached}) == 50
        assert len({a["MacAddress"] for a in attached}) == 50
        assert len({a["HostInterface"] for a in attached}) == 50
        assert len(dl.veths()) == 50
    finally:
        for p in procs:
            p.stop()
    dl("gc")
    assert dl.network()["Containers"] == {}


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])
