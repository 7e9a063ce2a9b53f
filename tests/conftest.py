"""Shared test fixtures: throwaway network namespaces, made and checked with iproute2.

Every test that touches the kernel builds its own world (see the network safety rule): a fresh
"host" namespace, made here with `ip netns add`, and removed afterwards even when the test fails.
Tests act through dockline and verify through an independent reader (`ip -j`, `nft -j`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator

import pytest

from nslab import NS_PREFIX, TestNetns, delete_netns, make_netns, netns_inode

__all__ = ["NS_PREFIX", "TestNetns", "delete_netns", "make_netns"]


@pytest.fixture
def netns_factory() -> Iterator[Callable[[], TestNetns]]:
    """Make as many throwaway namespaces as a test needs; all are deleted afterwards."""
    made: list[TestNetns] = []

    def factory() -> TestNetns:
        ns = make_netns()
        made.append(ns)
        return ns

    yield factory
    for ns in reversed(made):
        delete_netns(ns)


@pytest.fixture
def host_ns(netns_factory: Callable[[], TestNetns]) -> TestNetns:
    """A throwaway namespace playing the container host."""
    return netns_factory()


@pytest.fixture
def netns_fd(host_ns: TestNetns) -> Iterator[int]:
    """An O_RDONLY fd of `host_ns`, for code that takes a namespace fd."""
    fd = os.open(host_ns.path, os.O_RDONLY | os.O_CLOEXEC)
    yield fd
    os.close(fd)


# -- the leak check: the suite fails if it leaves anything behind --------------------------------


def _ancestors() -> set[int]:
    """This process and its ancestors (the test runner's own command lines are not leaks)."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rpartition(")")[2].split()[1])
    return pids


def leak_snapshot() -> dict[str, set[str]]:
    """What tests could leave behind: namespaces, links, /run/netns entries, nft tables, processes
    in other network namespaces or with dockline in their command line."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    own = netns_inode("self")
    procs = set()
    mine = _ancestors()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in mine:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        ino = netns_inode(pid)
        if (ino is not None and ino != own) or "dockline" in cmdline:
            procs.add(f"{pid} {cmdline}")
    return {
        "network namespaces": {line.split()[0] for line in netns.splitlines() if line.strip()},
        "links in the root namespace": {
            line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line
        },
        "/run/netns entries": set(os.listdir("/run/netns"))
        if os.path.isdir("/run/netns")
        else set(),
        "nftables tables": set(tables.splitlines()),
        "processes": procs,
    }


LEAK_KEY = pytest.StashKey[dict[str, set[str]]]()
LEAKS_KEY = pytest.StashKey[dict[str, set[str]]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[LEAK_KEY] = leak_snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(LEAK_KEY, None)
    if before is None or os.environ.get("DOCKLINE_SKIP_LEAK_CHECK"):
        return
    after = leak_snapshot()
    leaks = {k: after[k] - before[k] for k in after if after[k] - before[k]}
    if leaks:
        session.config.stash[LEAKS_KEY] = leaks
        session.exitstatus = 1


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    leaks = config.stash.get(LEAKS_KEY, None)
    if not leaks:
        return
    write = terminalreporter.write_line
    write("LEAK CHECK FAILED: the suite left these behind:", red=True)
    for kind, items in leaks.items():
        for item in sorted(items):
            write(f"  {kind}: {item}", red=True)
