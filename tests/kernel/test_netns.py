"""Tests for dockline.netns against real namespaces, checked with readlink, stat and iproute2.

Processes owning namespaces are `unshare -n sleep 30` children, killed after each test.
Persistent namespaces live under /run/netns with `dltest-` names and are always removed; link
tests use a temporary directory instead of /run/netns.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockline import netns
from dockline.errors import Conflict, InvalidArgument, KernelError, NotFound
from nslab import TestNetns, proc_stat_field, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces")

Spawner = Callable[..., subprocess.Popen[bytes]]


def readlink_ino(path: str, *, in_ns: str | None = None) -> int:
    """The namespace inode that `readlink` (run in netns `in_ns`, if given) reports for `path`."""
    prefix = ["ip", "netns", "exec", in_ns] if in_ns else []
    out = subprocess.run(
        [*prefix, "readlink", path], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.startswith("net:[") and out.endswith("]"), out
    return int(out[5:-1])


def own_ino() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def ip_netns_names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    """Start processes in their own network namespace (`unshare -n sleep 30`), killed at the end.

    `spawn(join=pid)` instead starts one inside the namespace of `pid` (`nsenter -n`).
    """
    procs: list[subprocess.Popen[bytes]] = []
    base = own_ino()

    def start(join: int | None = None) -> subprocess.Popen[bytes]:
        argv = ["unshare", "-n", "sleep", "30"]
        if join is not None:
            argv = ["nsenter", "-t", str(join), "-n", "sleep", "30"]
        proc = subprocess.Popen(argv)
        procs.append(proc)
        # Ready once unshare/nsenter has exec'd sleep, i.e. after its namespace switch.
        wait_until(lambda: Path(f"/proc/{proc.pid}/comm").read_text() == "sleep\n")
        assert os.stat(f"/proc/{proc.pid}/ns/net").st_ino != base
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


@pytest.fixture
def run_netns_path() -> Iterator[str]:
    """A fresh /run/netns/dltest-<hex> path, cleaned up with iproute2 whatever happens."""
    name = "dltest-" + secrets.token_hex(4)
    path = f"/run/netns/{name}"
    yield path
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["umount", "-l", path], capture_output=True, check=False)
    Path(path).unlink(missing_ok=True)


# refs and liveness


def test_ref_for_pid_identifies_the_process_namespace(spawn: Spawner) -> None:
    proc = spawn()
    ref = netns.ref_for_pid(proc.pid)
    assert ref.path == f"/proc/{proc.pid}/ns/net"
    assert ref.ino == readlink_ino(ref.path)
    assert ref.dev == os.stat("/proc/self/ns/net").st_dev  # nsfs
    assert ref.pid == proc.pid
    assert ref.pid_start == proc_stat_field(proc.pid, 22)
    assert netns.is_alive(ref)

    kill(proc)
    assert not netns.is_alive(ref)
    with pytest.raises(NotFound):
        netns.ref_for_pid(proc.pid)


def test_a_ref_to_a_recycled_pid_is_not_alive(spawn: Spawner) -> None:
    proc = spawn()
    ref = netns.ref_for_pid(proc.pid)
    assert ref.pid_start is not None
    # Same pid, same namespace, but another start time: a different process got the pid.
    assert not netns.is_alive(ref._replace(pid_start=ref.pid_start - 1))
    # Same process, but the namespace it now has is not the one the ref recorded.
    assert not netns.is_alive(ref._replace(ino=ref.ino + 1))
    assert netns.is_alive(ref)


def test_ref_for_path_on_an_ip_netns_mount(host_ns: TestNetns) -> None:
    ref = netns.ref_for_path(host_ns.path)
    assert ref.path == host_ns.path
    assert ref.ino == readlink_ino("/proc/self/ns/net", in_ns=host_ns.name)
    assert (ref.pid, ref.pid_start) == (None, None)
    assert netns.is_alive(ref)

    subprocess.run(["ip", "netns", "del", host_ns.name], check=True)
    assert not netns.is_alive(ref)


def test_ref_for_path_through_a_symlink_to_proc_fills_the_pid(
    spawn: Spawner, tmp_path: Path
) -> None:
    proc = spawn()
    link = tmp_path / "ns"
    link.symlink_to(f"/proc/{proc.pid}/ns/net")
    ref = netns.ref_for_path(str(link))
    assert ref.path == str(link)
    assert ref.ino == readlink_ino(f"/proc/{proc.pid}/ns/net")
    assert ref.pid == proc.pid
    assert ref.pid_start == proc_stat_field(proc.pid, 22)

    kill(proc)
    assert not netns.is_alive(ref)
    with pytest.raises(NotFound):
        netns.ref_for_path(str(link))


def test_ref_for_path_of_self_names_our_pid() -> None:
    ref = netns.ref_for_path("/proc/self/ns/net")
    assert ref.path == f"/proc/{os.getpid()}/ns/net"
    assert ref.pid == os.getpid()
    assert ref.ino == own_ino()


def test_ref_for_path_rejects_what_is_not_a_netns(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        netns.ref_for_path(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    os.mkfifo(tmp_path / "fifo")  # must not block on open
    not_netns = ["/proc/self/ns/uts", str(tmp_path / "file"), str(tmp_path), "/dev/null"]
    for path in [*not_netns, str(tmp_path / "fifo")]:
        with pytest.raises(InvalidArgument, match="not a network namespace"):
            netns.ref_for_path(path)
    with pytest.raises(InvalidArgument, match="''"):  # not the working directory's error
        netns.ref_for_path("")


def test_open_and_current_netns_fds(host_ns: TestNetns) -> None:
    fd = netns.open_netns(host_ns.path)
    try:
        assert os.fstat(fd).st_ino == readlink_ino("/proc/self/ns/net", in_ns=host_ns.name)
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)
    fd = netns.current_netns_fd()
    try:
        assert os.fstat(fd).st_ino == readlink_ino("/proc/self/ns/net")
    finally:
        os.close(fd)
    with pytest.raises(NotFound):
        netns.open_netns("/run/netns/dltest-missing")


# entered


def test_entered_switches_the_thread_and_always_returns(host_ns: TestNetns, netns_fd: int) -> None:
    original = own_ino()
    target = readlink_ino("/proc/self/ns/net", in_ns=host_ns.name)
    with netns.entered(netns_fd):
        assert own_ino() == target
        # Children inherit it: iproute2 run from here sees the namespace's lone loopback.
        assert readlink_ino("/proc/self/ns/net") == target
        out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
        assert [line.split(":")[1].strip() for line in out.stdout.splitlines()] == ["lo"]
    assert own_ino() == original

    with pytest.raises(RuntimeError, match="boom"), netns.entered(netns_fd):
        assert own_ino() == target
        raise RuntimeError("boom")
    assert own_ino() == original


def test_entered_with_a_bad_fd_raises_and_stays_home() -> None:
    original = own_ino()
    fd = os.open("/proc/thread-self/ns/uts", os.O_RDONLY)
    try:
        with pytest.raises(KernelError), netns.entered(fd):
            pytest.fail("body must not run")
    finally:
        os.close(fd)
    assert own_ino() == original


def test_entered_moves_only_the_calling_thread(netns_fd: int) -> None:
    original = own_ino()
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def worker() -> None:
        with netns.entered(netns_fd):
            seen.append(own_ino())
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        assert own_ino() == original != seen[0]
    finally:
        release.set()
        thread.join(10)


# link_netns / unlink_netns / dangling_links


def test_link_netns_creates_the_dir_and_a_link(spawn: Spawner, tmp_path: Path) -> None:
    proc = spawn()
    netns_dir = tmp_path / "netns"
    link = str(netns_dir / "c1")
    assert netns.link_netns(str(netns_dir), "c1", proc.pid) is True
    assert stat.S_IMODE(netns_dir.stat().st_mode) == 0o755
    assert os.readlink(link) == f"/proc/{proc.pid}/ns/net"
    stat_l = subprocess.run(
        ["stat", "-L", "-c", "%i", link], capture_output=True, text=True, check=True
    )
    assert int(stat_l.stdout) == readlink_ino(f"/proc/{proc.pid}/ns/net")

    before = os.lstat(link).st_ino
    assert netns.link_netns(str(netns_dir), "c1", proc.pid) is False  # idempotent: kept as is
    assert os.lstat(link).st_ino == before


def test_link_netns_repoints_a_link_to_the_same_namespace(spawn: Spawner, tmp_path: Path) -> None:
    first = spawn()
    second = spawn(join=first.pid)
    link = str(tmp_path / "c1")
    assert netns.link_netns(str(tmp_path), "c1", first.pid) is True
    assert netns.link_netns(str(tmp_path), "c1", second.pid) is False  # there already
    assert os.readlink(link) == f"/proc/{second.pid}/ns/net"


def test_link_netns_replaces_a_dangling_link(spawn: Spawner, tmp_path: Path) -> None:
    old, new = spawn(), spawn()
    link = str(tmp_path / "c1")
    netns.link_netns(str(tmp_path), "c1", old.pid)
    kill(old)
    assert netns.dangling_links(str(tmp_path)) == [link]

    assert netns.link_netns(str(tmp_path), "c1", new.pid) is True  # a new link in its place
    assert os.readlink(link) == f"/proc/{new.pid}/ns/net"
    assert netns.dangling_links(str(tmp_path)) == []
    assert [p.name for p in tmp_path.iterdir()] == ["c1"]  # no temp link left behind


def test_link_netns_refuses_what_it_must_not_replace(spawn: Spawner, tmp_path: Path) -> None:
    mine, other = spawn(), spawn()
    link = str(tmp_path / "taken")
    netns.link_netns(str(tmp_path), "taken", other.pid)
    with pytest.raises(Conflict, match=link):
        netns.link_netns(str(tmp_path), "taken", mine.pid)
    assert os.readlink(link) == f"/proc/{other.pid}/ns/net"

    (tmp_path / "file").write_text("keep me")
    with pytest.raises(Conflict, match=str(tmp_path / "file")):
        netns.link_netns(str(tmp_path), "file", mine.pid)
    assert (tmp_path / "file").read_text() == "keep me"

    for bad in ("", "..", "a/b"):
        with pytest.raises(InvalidArgument):
            netns.link_netns(str(tmp_path), bad, mine.pid)
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    with pytest.raises(NotFound):
        netns.link_netns(str(tmp_path), "gone", pid_max + 1)


def test_links_made_by_link_netns_are_marked_as_their_owners_and_no_others(
    spawn: Spawner, tmp_path: Path
) -> None:
    first, old, new, elsewhere = spawn(), spawn(), spawn(), spawn()
    second = spawn(join=first.pid)
    made, by_hand, replaced = (str(tmp_path / n) for n in ("made", "by-hand", "replaced"))
    d = str(tmp_path)
    assert netns.link_netns(d, "made", first.pid, owner="/var/lib/a") is True
    assert netns.link_netns(d, "theirs", elsewhere.pid, owner="/var/lib/b") is True
    assert netns.link_netns(d, "unowned", elsewhere.pid) is True  # no owner: no mark
    os.symlink(f"/proc/{second.pid}/ns/net", by_hand)
    os.symlink(f"/proc/{old.pid}/ns/net", replaced)
    assert netns.link_netns(d, "by-hand", second.pid, owner="/var/lib/a") is False  # kept
    # Repointed to the same namespace through another process: each stays whose it was.
    assert netns.link_netns(d, "made", second.pid, owner="/var/lib/b") is False
    assert netns.link_netns(d, "by-hand", first.pid, owner="/var/lib/a") is False
    assert os.readlink(by_hand) == f"/proc/{first.pid}/ns/net"
    kill(old)
    assert netns.link_netns(d, "replaced", new.pid, owner="/var/lib/a") is True  # now a's
    assert netns.marked_links(d, "/var/lib/a") == [made, replaced]
    assert netns.marked_links(d, "/var/lib/b") == [str(tmp_path / "theirs")]
    assert netns.marked_links(str(tmp_path / "none"), "/var/lib/a") == []


def test_unlink_netns(spawn: Spawner, tmp_path: Path) -> None:
    link = str(tmp_path / "c1")
    netns.link_netns(str(tmp_path), "c1", spawn().pid)
    netns.unlink_netns(link)
    assert not os.path.lexists(link)
    netns.unlink_netns(link)  # missing is fine by default
    with pytest.raises(NotFound):
        netns.unlink_netns(link, missing_ok=False)

    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgument):
        netns.unlink_netns(str(tmp_path / "file"))
    assert (tmp_path / "file").exists()


def test_dangling_links_lists_only_dead_symlinks(spawn: Spawner, tmp_path: Path) -> None:
    live, dead = spawn(), spawn()
    netns.link_netns(str(tmp_path), "live", live.pid)
    netns.link_netns(str(tmp_path), "dead", dead.pid)
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    kill(dead)
    assert netns.dangling_links(str(tmp_path)) == [str(tmp_path / "broken"), str(tmp_path / "dead")]
    assert netns.dangling_links(str(tmp_path / "missing")) == []


# create_netns / delete_netns


def test_create_netns_is_a_persistent_namespace_ip_netns_can_use(run_netns_path: str) -> None:
    name = os.path.basename(run_netns_path)
    original = own_ino()
    ref = netns.create_netns(run_netns_path)
    assert own_ino() == original  # the calling thread came back
    assert (ref.path, ref.pid) == (run_netns_path, None)
    assert name in ip_netns_names()
    assert readlink_ino("/proc/self/ns/net", in_ns=name) == ref.ino != original
    links = subprocess.run(
        ["ip", "netns", "exec", name, "ip", "-o", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(links) == 1 and "lo:" in links[0] and "state DOWN" in links[0]
    assert netns.is_alive(ref)

    with pytest.raises(Conflict):
        netns.create_netns(run_netns_path)

    netns.delete_netns(run_netns_path)
    assert name not in ip_netns_names()
    assert not os.path.lexists(run_netns_path)
    assert run_netns_path not in Path("/proc/self/mountinfo").read_text()
    assert not netns.is_alive(ref)
    netns.delete_netns(run_netns_path)  # a second delete is a no-op
    with pytest.raises(NotFound):
        netns.delete_netns(run_netns_path, missing_ok=False)


def test_delete_netns_removes_an_ip_netns_add_namespace(
    netns_factory: Callable[[], TestNetns],
) -> None:
    ns = netns_factory()
    netns.delete_netns(ns.path, missing_ok=False)
    assert ns.name not in ip_netns_names()
    assert not os.path.lexists(ns.path)


def test_create_netns_undoes_the_file_when_unshare_fails(run_netns_path: str) -> None:
    # A child without CAP_SYS_ADMIN creates the file, then unshare fails for real (EPERM).
    script = """
        import sys
        from dockline import linux, netns
        from dockline.errors import KernelError
        status = dict(line.split(":\\t") for line in open("/proc/self/status").read().splitlines())
        permitted = int(status["CapPrm"], 16)
        keep = frozenset(c for c in range(64) if permitted >> c & 1)
        linux.drop_capabilities(keep - {linux.CAPABILITIES["CAP_SYS_ADMIN"]})
        try:
            netns.create_netns(sys.argv[1])
        except KernelError as err:
            print(err.op, err.errno)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), run_netns_path],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["unshare", "1"]  # EPERM
    assert not os.path.lexists(run_netns_path)
