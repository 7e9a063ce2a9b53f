"""Every failure of `Engine.connect` and of `run` leaves the host as it was.

A fault is injected in place of each step that `connect` calls (pytest's monkeypatch on the
module attribute the caller looks up; faults the kernel can be made to raise for real are raised
for real instead), and afterwards `ip -j`, `nft` and sqlite3 on the store's file must show
exactly the state from before: no veth, no /run/netns link, no lease or endpoint row, the same
bridge and firewall. "before" injects the fault instead of the step (the step did nothing);
"after" lets the step run and then fails, so whatever it made must be undone too.
"""

from __future__ import annotations

import errno
import os
import select
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_lab import Lab, Lone, open_engine

from dockline import api
from dockline.errors import Conflict, DocklineError, InvalidArgument, KernelError
from dockline.runtime.state import log_path
from dockline.store.sqlite import SqliteStore, SqliteTxn
from nslab import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


class Injected(KernelError):
    """The fault this test put in place of a step."""

    def __init__(self, step: str) -> None:
        super().__init__("injected fault", step, errno.EIO)


def failing(step: str, real: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A stand-in for `real` that raises Injected: at once, or after `real` has done its work."""

    def fault(*args: Any, **kwargs: Any) -> Any:
        if real is not None:
            real(*args, **kwargs)
        raise Injected(step)

    return fault


class NoNetlink:
    """Stands in for the `Netlink` class the bridge driver opens the target namespace with."""

    @classmethod
    def open(cls, netns_fd: int | None = None) -> object:
        raise Injected("Netlink.open")


def failing_commit(self: SqliteStore) -> None:
    """COMMIT fails; as the real `_commit` does then, the transaction is rolled back."""
    self._conn.execute("ROLLBACK")
    raise Injected("commit")


def inject(monkeypatch: pytest.MonkeyPatch, step: str, when: str) -> None:
    """Put the fault in place of `step`, at the attribute its caller looks up."""
    import dockline.driver.bridge
    import dockline.engine
    import dockline.netns

    modules: dict[str, object] = {
        "link_netns": dockline.netns,
        "plan_endpoint": dockline.engine,
        "ready_network": dockline.engine,
        "create_veth": dockline.driver.bridge,
        "configure_interface": dockline.driver.bridge,
        "put_endpoint": SqliteTxn,
        "add_lease": SqliteTxn,
    }
    if step == "Netlink.open":
        monkeypatch.setattr(dockline.driver.bridge, "Netlink", NoNetlink)
    elif step == "commit":
        monkeypatch.setattr(SqliteStore, "_commit", failing_commit)
    else:
        owner = modules[step]
        real = getattr(owner, step)
        monkeypatch.setattr(owner, step, failing(step, real if when == "after" else None))


STEPS = [
    ("link_netns", "before"),
    ("plan_endpoint", "before"),
    ("plan_endpoint", "after"),
    ("ready_network", "before"),
    ("ready_network", "after"),
    ("create_veth", "before"),
    ("Netlink.open", "before"),
    ("configure_interface", "before"),
    ("configure_interface", "after"),
    ("put_endpoint", "before"),
    ("put_endpoint", "after"),
    ("add_lease", "before"),
    ("add_lease", "after"),
    ("commit", "before"),
]


def only_lo(proc: Lone) -> bool:
    return [link["ifname"] for link in proc.ip_json("link", "show")] == ["lo"]


# "existing": another engine (another dockline process) attached a neighbour first, so this
# engine looks the bridge up; "remembered": this engine attached it, so it skips that lookup.
# (An engine that remembers the bridge does not call ready_network: no such case.)
CASES = [
    (step, when, state)
    for state in ("existing", "remembered", "new-network")
    for step, when in STEPS
    if not (state == "remembered" and step == "ready_network")
]


@pytest.mark.parametrize(("step", "when", "network_state"), CASES, ids=["-".join(c) for c in CASES])
def test_connect_fault_leaves_nothing(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, step: str, when: str, network_state: str
) -> None:
    network_exists = network_state != "new-network"
    if network_state == "remembered":
        lab.engine.connect(netns_path=lab.container_ns().path)  # a neighbour that must stay
    elif network_state == "existing":
        with open_engine(lab.host, Path(lab.engine.paths.root).parent) as other:
            other.connect(netns_path=lab.container_ns().path)
    kernel_before = lab.kernel_state()
    store_before = lab.store_state()
    veths_before = lab.veths()
    proc = lab.lone()

    with monkeypatch.context() as patch:
        inject(patch, step, when)
        with pytest.raises(Injected):
            lab.engine.connect("bridge", pid=proc.pid)

    assert lab.veths() == veths_before
    assert not os.path.lexists(proc.link)
    assert lab.store_state() == store_before  # no network, endpoint, lease or cursor change
    assert only_lo(proc)
    after = lab.kernel_state()
    if network_exists:
        assert after == kernel_before
    else:  # the bridge went again; the firewall was put back to "no networks"
        assert {k: v for k, v in after.items() if k != "nft"} == {
            k: v for k, v in kernel_before.items() if k != "nft"
        }
        assert "elements" not in str(after["nft"])
    # The engine is still usable, and the failed attempt consumed no address.
    endpoint = lab.engine.connect("bridge", pid=proc.pid)
    assert str(endpoint.addresses[0].ip) == ("172.17.0.3" if network_exists else "172.17.0.2")


def test_a_failed_first_connect_leaves_no_firewall_table(lab: Lab) -> None:
    ns = lab.container_ns()
    ns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    assert "dockline" not in lab.ruleset()
    with pytest.raises(Conflict):
        lab.engine.connect(netns_path=ns.path)
    assert lab.store_state()["networks"] == []
    assert "dockline" not in lab.ruleset()


# -- faults the kernel raises for real ---------------------------------------------------------


def test_a_full_bridge_is_a_conflict_naming_it(lab: Lab) -> None:
    """A Linux bridge takes 1,023 ports; the next veth is refused (EXFULL) and nothing stays."""
    lab.engine.connect(netns_path=lab.container_ns().path)  # one port, remembered by the engine
    filler = "".join(
        f"link add fill{i} master dockline0 type veth peer name fillp{i}\n" for i in range(1022)
    )
    lab.host.run("ip", "-batch", "-", input=filler)
    kernel_before, store_before = lab.kernel_state(), lab.store_state()
    with pytest.raises(Conflict, match="bridge dockline0 of network bridge is full"):
        lab.engine.connect(netns_path=lab.container_ns().path)
    assert lab.kernel_state() == kernel_before
    assert lab.store_state() == store_before
    # (the fillers go with the lab's host namespace, all at once)


def test_peer_name_taken_in_the_namespace(lab: Lab) -> None:
    lab.engine.connect(netns_path=lab.container_ns().path)
    ns = lab.container_ns()
    ns.run("ip", "link", "add", "net1", "type", "veth", "peer", "name", "net1p")
    kernel_before, store_before = lab.kernel_state(), lab.store_state()
    with pytest.raises(Conflict, match="net1"):
        lab.engine.connect(netns_path=ns.path, ifname="net1")
    assert lab.kernel_state() == kernel_before
    assert lab.store_state() == store_before
    assert sorted(link["ifname"] for link in ns.ip_json("link", "show")) == ["lo", "net1", "net1p"]


def test_default_route_already_in_the_namespace(lab: Lab) -> None:
    lab.engine.network()
    ns = lab.container_ns()
    ns.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1")
    ns.run("ip", "addr", "add", "203.0.113.2/24", "dev", "up0")
    ns.run("ip", "link", "set", "up0", "up")
    ns.run("ip", "link", "set", "up1", "up")
    ns.run("ip", "route", "add", "default", "via", "203.0.113.1")
    routes_before = ns.ip_json("-4", "route", "show")
    kernel_before, store_before = lab.kernel_state(), lab.store_state()

    with pytest.raises(KernelError) as caught:
        lab.engine.connect(netns_path=ns.path)
    assert caught.value.errno == errno.EEXIST

    assert lab.kernel_state() == kernel_before
    assert lab.store_state() == store_before
    assert sorted(link["ifname"] for link in ns.ip_json("link", "show")) == ["lo", "up0", "up1"]
    assert ns.ip_json("-4", "route", "show") == routes_before
    assert lab.ipv4(ns, "up0") == ["203.0.113.2/24"]


def test_a_non_bridge_in_the_bridge_s_place(lab: Lab) -> None:
    neighbour = lab.engine.connect(netns_path=lab.container_ns().path)
    lab.host.run("ip", "link", "del", "dockline0")
    lab.host.run("ip", "link", "add", "dockline0", "type", "veth", "peer", "name", "imposter")
    kernel_before, store_before = lab.kernel_state(), lab.store_state()
    ns = lab.container_ns()
    with pytest.raises(Conflict, match="dockline0"):
        lab.engine.connect(netns_path=ns.path)
    assert lab.kernel_state() == kernel_before
    assert lab.store_state() == store_before
    assert [e.id for e in lab.engine.endpoints()] == [neighbour.id]
    assert [link["ifname"] for link in ns.ip_json("link", "show")] == ["lo"]


# -- run (supervise.prepare) failures ----------------------------------------------------------


class Forks:
    """Tells when every process forked from the test process meanwhile has gone: each holds a
    copy of a pipe's write end (fork keeps every fd), so the read end sees EOF only then.
    `subprocess` children close it before exec, so only the forks of `run` count."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()

    def all_gone(self, timeout: float = 10.0) -> bool:
        self._close("write_end")
        poller = select.poll()
        poller.register(self.read_end, select.POLLIN | select.POLLHUP)
        return bool(poller.poll(int(timeout * 1000))) and os.read(self.read_end, 1) == b""

    def _close(self, end: str) -> None:
        fd = getattr(self, end)
        if fd >= 0:
            os.close(fd)
            setattr(self, end, -1)

    def close(self) -> None:
        self._close("write_end")
        self._close("read_end")


@pytest.fixture
def forks() -> Iterator[Forks]:
    made = Forks()
    yield made
    made.close()


@pytest.fixture
def ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The IDs `run` gives its containers (to know their sandbox link's name)."""
    from dockline.runtime import spec

    made: list[str] = []
    real = spec.new_container_id

    def recorded() -> str:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(spec, "new_container_id", recorded)
    return made


def bad_rootfs(tmp: Path) -> str:
    """A directory whose `dev` is a file: the container's setup fails after its network is up."""
    root = tmp / "badroot"
    root.mkdir()
    (root / "dev").write_text("not a directory\n")
    return str(root)


def assert_run_left_nothing(lab: Lab, ids: list[str], forks: Forks, store_before: Any) -> None:
    assert forks.all_gone(), "a monitor or container process outlived the failed run"
    for container_id in ids:
        assert not os.path.lexists(f"/run/netns/dockline-{container_id[:12]}")
    assert lab.count("leases") == len(store_before["leases"])
    assert lab.count("endpoints") == len(store_before["endpoints"])
    # The container's namespace died with it; the kernel removes its veth pair (asynchronously).
    kept = {row[9] for row in store_before["endpoints"]}
    wait_until(lambda: lab.veths() == kept, what="the dead container's veth to go")


CANNOT_START = {  # options of `run`, and the error (type, message) it must fail with
    "container-missing": ({"net": "container:missing"}, DocklineError, "no such container"),
    "no-rootfs": ({"rootfs": "/nonexistent/rootfs"}, InvalidArgument, "/nonexistent/rootfs"),
    "ip-in-use": ({"ip": "172.17.0.2"}, DocklineError, r"172\.17\.0\.2 is already in use"),
}


@pytest.mark.parametrize("case", sorted(CANNOT_START))
def test_run_that_cannot_start_leaves_nothing(
    lab: Lab, ids: list[str], forks: Forks, case: str
) -> None:
    options, error, message = CANNOT_START[case]
    lab.engine.connect(netns_path=lab.container_ns().path)  # holds 172.17.0.2
    store_before = lab.store_state()
    with pytest.raises(error, match=message):
        api.run(lab.engine, ["sleep", "30"], name="doomed", **options)
    assert_run_left_nothing(lab, ids, forks, store_before)
    assert lab.count("containers") == 0


def test_run_with_a_broken_rootfs_and_rm_leaves_nothing(
    lab: Lab, ids: list[str], forks: Forks, tmp_path: Path
) -> None:
    lab.engine.network()
    store_before = lab.store_state()
    with pytest.raises(DocklineError, match="dev"):
        api.run(
            lab.engine,
            ["sleep", "30"],
            name="doomed",
            rootfs=bad_rootfs(tmp_path),
            auto_remove=True,
        )
    assert_run_left_nothing(lab, ids, forks, store_before)
    assert lab.count("containers") == 0


def test_run_with_a_broken_rootfs_keeps_only_an_exited_record(
    lab: Lab, ids: list[str], forks: Forks, tmp_path: Path
) -> None:
    """As Docker: a container that failed to start stays listed (exited, 125) until removed;
    its network, lease and sandbox link are gone."""
    lab.engine.network()
    store_before = lab.store_state()
    with pytest.raises(DocklineError, match="dev"):
        api.run(lab.engine, ["sleep", "30"], name="doomed", rootfs=bad_rootfs(tmp_path))
    assert_run_left_nothing(lab, ids, forks, store_before)
    [container] = lab.rows("containers")
    info = api.inspect_container(lab.engine, "doomed")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 125
    assert container[0] == ids[0]


def test_exec_failure_leaves_no_network(lab: Lab, ids: list[str], forks: Forks) -> None:
    lab.engine.network()
    store_before = lab.store_state()
    with pytest.raises(DocklineError, match="no-such-command") as caught:
        api.run(lab.engine, ["no-such-command"], name="doomed", auto_remove=True)
    assert int(caught.value.exit_status) == 127
    assert_run_left_nothing(lab, ids, forks, store_before)
    assert lab.count("containers") == 0


def test_a_monitor_that_cannot_exec_its_waiter_waits_itself(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor execs a bare interpreter to wait (runtime/waiter.py); if that exec fails,
    it waits in its own process and tears the container down all the same."""
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")  # inherited by the fork
    container = api.run(lab.engine, ["sleep", "0.5"], name="fallback")
    assert container.state == "running" and container.monitor_pid is not None
    # the monitor leaves once its teardown is committed (`inspect` says "exited" earlier:
    # from the moment the container's process is gone)
    monitor = f"/proc/{container.monitor_pid}"
    wait_until(lambda: not os.path.exists(monitor), what="the monitor's teardown")
    state = api.inspect_container(lab.engine, "fallback")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    assert lab.count("endpoints") == 0 and lab.count("leases") == 0
    log = log_path(lab.engine.paths, container.id)
    with open(log) as f:
        assert "cannot exec" in f.read()
