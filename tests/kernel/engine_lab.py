"""A lab for kernel tests of the engine through its Python API.

An `Engine` bound to a throwaway "host" namespace (it is created while the test thread is entered
there, and afterwards works from the root namespace), "container" namespaces from the
`netns_factory` fixture, and processes with a namespace of their own (`unshare -n sleep`).
The engine acts; the checks read the kernel with iproute2/nft run inside the host namespace, and
the state store with the sqlite3 module on the database file (never only through the engine).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockline import netns
from dockline.api import BridgeConfig, Engine, Paths, remove
from dockline.errors import DocklineError
from nslab import TestNetns, wait_until

TABLES = ("networks", "endpoints", "leases", "ipam_cursor", "containers")


def make_paths(tmp: Path) -> Paths:
    return Paths(root=str(tmp / "lib"), run_root=str(tmp / "run"), config=str(tmp / "daemon.json"))


def open_engine(host: TestNetns, tmp: Path, *, bridge_config: BridgeConfig | None = None) -> Engine:
    """An engine whose host is `host` (entered only to create it)."""
    fd = os.open(host.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with netns.entered(fd):
            return Engine(make_paths(tmp), bridge_config=bridge_config)
    finally:
        os.close(fd)


class Lone:
    """A process with a fresh, unconfigured network namespace, started in the host namespace
    by something else than dockline (`ip netns exec HOST unshare -n sleep 60`); or, with
    `own_netns=False`, a plain process of the host namespace."""

    def __init__(self, host: TestNetns, *, own_netns: bool = True) -> None:
        own = os.stat("/proc/self/ns/net").st_ino
        hosted = os.stat(host.path).st_ino
        unshare = ["unshare", "--net"] if own_netns else []
        self.proc = subprocess.Popen(["ip", "netns", "exec", host.name, *unshare, "sleep", "60"])
        if own_netns:
            wait_until(
                lambda: self.netns_ino() not in (0, own, hosted),
                what=f"pid {self.pid} to enter a new netns",
            )
        else:
            wait_until(lambda: self.netns_ino() == hosted, what=f"pid {self.pid} in the host")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def link(self) -> str:
        """Where `connect(pid=...)` makes the namespace visible."""
        return f"/run/netns/{self.pid}"

    def netns_ino(self) -> int:
        try:
            return os.stat(f"/proc/{self.pid}/ns/net").st_ino
        except OSError:
            return 0

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        import json

        out = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-n", "ip", "-j", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        parsed: list[dict[str, Any]] = json.loads(out) if out.strip() else []
        return parsed

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@dataclass
class Lab:
    """One engine on one throwaway host, and readers of the kernel and the store."""

    host: TestNetns
    engine: Engine
    new_netns: Callable[[], TestNetns]
    lones: list[Lone] = field(default_factory=list)

    # -- making things -----------------------------------------------------------------------
    def container_ns(self) -> TestNetns:
        return self.new_netns()

    def lone(self, *, own_netns: bool = True) -> Lone:
        proc = Lone(self.host, own_netns=own_netns)
        self.lones.append(proc)
        return proc

    # -- the kernel, read with iproute2 and nft -----------------------------------------------
    def links(self) -> list[dict[str, Any]]:
        return self.host.ip_json("-d", "link", "show")

    def link(self, name: str) -> dict[str, Any] | None:
        found = [link for link in self.links() if link["ifname"] == name]
        return found[0] if found else None

    def must_link(self, name: str) -> dict[str, Any]:
        found = self.link(name)
        assert found is not None, f"no link {name} in the host namespace"
        return found

    def veths(self) -> set[str]:
        return {
            str(link["ifname"])
            for link in self.links()
            if link.get("linkinfo", {}).get("info_kind") == "veth"
        }

    def ipv4(self, ns: TestNetns, ifname: str) -> list[str]:
        """`a.b.c.d/len` of an interface, from `ip -j addr`."""
        [info] = ns.ip_json("-4", "addr", "show", "dev", ifname) or [{"addr_info": []}]
        return [f"{a['local']}/{a['prefixlen']}" for a in info["addr_info"]]

    def ruleset(self) -> str:
        """The whole nftables ruleset of the host namespace (text: no handles, comparable)."""
        return self.host.run("nft", "list", "ruleset").stdout

    def kernel_state(self) -> dict[str, object]:
        """What a rolled-back operation must leave exactly as it was in the host namespace."""
        links = {
            (
                str(link["ifname"]),
                link.get("linkinfo", {}).get("info_kind"),
                link.get("master"),
                link["mtu"],
                "UP" in link["flags"],
            )
            for link in self.links()
        }
        addrs = {
            (str(i["ifname"]), f"{a['local']}/{a['prefixlen']}")
            for i in self.host.ip_json("-4", "addr", "show")
            for a in i["addr_info"]
        }
        routes = {  # not the flags: `linkdown` follows the bridge's carrier, with a lag
            (r["dst"], r.get("dev"), r.get("gateway"))
            for r in self.host.ip_json("-4", "route", "show")
        }
        return {"links": links, "addresses": addrs, "routes": routes, "nft": self.ruleset()}

    # -- the store, read with sqlite3 on the file ---------------------------------------------
    @property
    def db_path(self) -> str:
        return os.path.join(self.engine.paths.root, "dockline.db")

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        assert table in TABLES
        if not os.path.exists(self.db_path):
            return []
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        finally:
            conn.close()

    def count(self, table: str) -> int:
        return len(self.rows(table))

    def store_locked(self) -> bool:
        """Whether some process holds the store's write lock (BEGIN IMMEDIATE, no waiting)."""
        conn = sqlite3.connect(self.db_path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()

    def store_state(self) -> dict[str, list[tuple[Any, ...]]]:
        return {table: self.rows(table) for table in TABLES}

    # -- teardown -----------------------------------------------------------------------------
    def clean(self) -> None:
        """Remove what the test made through the engine: containers, endpoints, dead links."""
        engine = self.engine
        with contextlib.suppress(DocklineError):
            with engine.store.transaction() as txn:
                names = [c.id for c in txn.list_containers()]
            for name in names:
                with contextlib.suppress(DocklineError):
                    remove(engine, name, force=True)
        for proc in self.lones:
            proc.stop()
        with contextlib.suppress(DocklineError), engine.store.transaction() as txn:
            engine.detach(txn, txn.list_endpoints())
        with contextlib.suppress(DocklineError):
            engine.gc()
        for proc in self.lones:  # connect --pid links whose record was already gone
            with contextlib.suppress(FileNotFoundError):
                if not os.path.exists(proc.link):
                    os.unlink(proc.link)


@contextlib.contextmanager
def open_lab(
    host: TestNetns,
    tmp: Path,
    new_netns: Callable[[], TestNetns],
    *,
    bridge_config: BridgeConfig | None = None,
) -> Iterator[Lab]:
    engine = open_engine(host, tmp, bridge_config=bridge_config)
    lab = Lab(host, engine, new_netns)
    try:
        yield lab
    finally:
        try:
            lab.clean()
        finally:
            engine.close()
