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
    """COMMIT fails (the transaction is still open, the lock still held)."""
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
    assert ip_forward(lab) == "0"
    with pytest.raises(Conflict):
        lab.engine.connect(netns_path=ns.path)
    assert lab.store_state()["networks"] == []
    assert "dockline" not in lab.ruleset()
    assert ip_forward(lab) == "0"  # turned on for the new network, and off again


def ip_forward(lab: Lab) -> str:
    return lab.host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()


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


def test_a_failed_connect_keeps_a_bridge_someone_set_down(lab: Lab, tmp_path: Path) -> None:
    """The undo deletes a bridge only if this very operation made it: one that was merely
    down (set down by hand) is set up again and stays, with its containers on it."""
    neighbour = lab.engine.connect(netns_path=lab.container_ns().path)
    lab.host.run("ip", "link", "set", "dockline0", "down")
    ns = lab.container_ns()
    ns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    other = open_engine(lab.host, tmp_path)  # another process: it looks the bridge up
    try:
        with pytest.raises(Conflict, match="eth0"):
            other.connect(netns_path=ns.path)
    finally:
        other.close()
    bridge = lab.must_link("dockline0")
    assert "UP" in bridge["flags"]
    assert lab.must_link(neighbour.host_ifname)["master"] == "dockline0"
    assert [e.id for e in lab.engine.endpoints()] == [neighbour.id]


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


CANNOT_START: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    # options of `run`, and the error (type, message) it must fail with
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


def test_a_failed_first_run_leaves_no_firewall_table(
    lab: Lab, ids: list[str], forks: Forks
) -> None:
    """The default network made by a `run` that then fails goes again with its firewall table:
    the undo runs `nft` after the container (pid 1 of its pid namespace) is gone, so the
    supervisor must still be able to fork then."""
    kernel_before = lab.kernel_state()
    with pytest.raises(DocklineError, match=r"10\.99\.0\.5"):
        api.run(lab.engine, ["sleep", "30"], name="doomed", ip="10.99.0.5")
    assert forks.all_gone(), "a monitor or container process outlived the failed run"
    assert lab.store_state()["networks"] == []
    assert lab.kernel_state() == kernel_before  # no bridge, no table
    assert "dockline" not in lab.ruleset()
    assert ip_forward(lab) == "0"


def _pid_ns(path: str) -> int:
    return os.stat(path).st_ino


def test_exec_leaves_the_caller_s_pid_namespace_and_fds_as_they_were(lab: Lab) -> None:
    """`exec_in` forks its command into the container's pid namespace; the caller (a Python
    program using the API) must not stay there: its later children (another container's
    monitor, `nft`) would be born in that container, and could not be born at all once it
    stops."""
    own = _pid_ns("/proc/self/ns/pid")
    first = api.run(lab.engine, ["sleep", "30"], name="first")
    fds_before = sorted(os.listdir("/proc/self/fd"))
    assert api.exec_in(lab.engine, "first", ["true"]) == 0
    assert _pid_ns("/proc/self/ns/pid_for_children") == own
    with pytest.raises(DocklineError, match="no-such-command"):
        api.exec_in(lab.engine, "first", ["no-such-command"])
    assert _pid_ns("/proc/self/ns/pid_for_children") == own
    assert sorted(os.listdir("/proc/self/fd")) == fds_before

    second = api.run(lab.engine, ["sleep", "30"], name="second")  # its monitor forks here
    assert second.pid is not None and os.path.exists(f"/proc/{second.pid}/ns/net")
    assert second.monitor_pid is not None
    assert _pid_ns(f"/proc/{second.monitor_pid}/ns/pid") == own
    api.remove(lab.engine, "first", force=True)
    assert first.pid is not None and not os.path.exists(f"/proc/{first.pid}")
    api.remove(lab.engine, "second", force=True)  # forks and nft still work


def test_a_monitor_whose_caller_is_gone_still_tears_its_container_down(lab: Lab) -> None:
    """The caller of `run -d` may die (kill -9, Ctrl-C) before the monitor reports that the
    container started: the report then fails (EPIPE), and the monitor must go on to wait for
    the container and tear its network down all the same."""
    from dockline.runtime import monitor
    from dockline.runtime.spec import build_spec

    spec = build_spec(["sleep", "0.5"], name="orphan")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the caller is gone before the report
    log = monitor.open_log(lab.engine.paths, spec.id)
    with lab.engine.in_host():
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the monitor never returns
            monitor.monitor_main(lab.engine.paths, spec, None, write_end, log)
    os.close(write_end)
    os.close(log)
    _, status = os.waitpid(pid, 0)  # the monitor, then its waiter, in this one process
    assert os.waitstatus_to_exitcode(status) == 0
    state = api.inspect_container(lab.engine, "orphan")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    assert lab.count("endpoints") == 0 and lab.count("leases") == 0
    api.remove(lab.engine, "orphan")


def test_a_run_that_fails_leaves_no_log_unless_it_stays_listed(
    lab: Lab, ids: list[str], tmp_path: Path
) -> None:
    """As Docker: a container that never started leaves nothing; one listed as exited (it
    failed after it was set up) keeps its log for `logs`."""
    lab.engine.network()
    with pytest.raises(DocklineError, match="no such container"):
        api.run(lab.engine, ["sleep", "30"], name="doomed", net="container:missing")
    assert not os.path.exists(log_path(lab.engine.paths, ids[-1]))
    with pytest.raises(DocklineError, match="dev"):
        api.run(lab.engine, ["sleep", "30"], name="listed", rootfs=bad_rootfs(tmp_path))
    assert os.path.exists(log_path(lab.engine.paths, ids[-1]))
    api.remove(lab.engine, "listed")
    assert os.listdir(os.path.dirname(log_path(lab.engine.paths, ids[-1]))) == []


def test_a_taken_generated_name_is_drawn_again(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker-style names come from a few hundred pairs: a clash is drawn again (with
    digits), so `run` without a name never fails on one; a name the user gave is a Conflict."""
    from dockline.runtime import spec

    monkeypatch.setattr(spec, "choice", lambda words: words[0])  # every draw the same pair
    first = api.run(lab.engine, ["true"], net="none")
    second = api.run(lab.engine, ["true"], net="none")
    assert first.name == "brave_babbage"
    base, digits = second.name[:13], second.name[13:]
    assert base == "brave_babbage" and digits.isdigit()
    with pytest.raises(DocklineError, match='"brave_babbage" is already in use'):
        api.run(lab.engine, ["true"], name="brave_babbage", net="none")
    assert lab.count("containers") == 2


def test_gc_sets_the_firewall_while_it_holds_the_lock(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc renders the ruleset from the networks it read: it must apply it before another
    process can commit a new network (whose table it would otherwise delete)."""
    import dockline.engine
    from dockline.networks import restore_firewall as real  # the engine's, under another name

    seen: list[bool] = []

    def probing(*args: Any) -> None:
        seen.append(lab.store_locked())
        real(*args)

    monkeypatch.setattr(dockline.engine, "restore_firewall", probing)
    lab.engine.gc()
    assert seen == [True]
