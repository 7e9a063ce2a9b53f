"""The engine: dockline's operations on one host, shared by every entry point.

The CLI, the Python API (this class is it), and later the CNI plugin and OCI hook all call this.
"One host" is the network namespace the engine was created in: its netlink handle is bound there,
so a test lab can run an engine inside a throwaway namespace.

Every operation is one store transaction held across its kernel steps, with an undo stack for the
kernel side: on any error both roll back; on `kill -9` the store rolls back by itself and `gc`
removes the kernel objects that have no record.
"""

from __future__ import annotations

import os
import time

from dockline import ipam, netns
from dockline.addr import IPv4Address
from dockline.config import (
    DEFAULT_BRIDGE,
    DEFAULT_NETWORK,
    BridgeConfig,
    Paths,
    load_bridge_config,
)
from dockline.driver.bridge import is_host_ifname, plan_endpoint, setup_endpoint
from dockline.errors import Conflict, InvalidArgument, KernelError, NotFound, TeardownError
from dockline.ids import new_id
from dockline.model import Endpoint, NetnsRef, Network
from dockline.netlink import Netlink, delete_link, delete_links, list_links, validate_ifname
from dockline.networks import Host, apply_firewall, get_network, ready_network, restore_firewall
from dockline.records import TYPE_CHECKING
from dockline.rollback import Rollback

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from types import TracebackType

    from dockline.netlink import Link
    from dockline.store.base import Store, Txn


class GcReport:
    """What one `gc` pass removed (IDs and names), and what it could not."""

    def __init__(self) -> None:
        self.endpoints: list[str] = []
        self.links: list[str] = []
        self.netns_links: list[str] = []
        self.containers: list[str] = []
        self.errors: list[str] = []


class Engine:
    """dockline on the host (network namespace) this object was created in."""

    def __init__(
        self,
        paths: Paths | None = None,
        *,
        bridge_config: BridgeConfig | None = None,
        leave_store_to_exit: bool = False,
    ):
        """`leave_store_to_exit` is for a process that exits (without interpreter teardown)
        right after it is done with the engine, and keeps the engine referenced until then: the
        CLI. `close` then leaves the store's SQLite connection for the exit to drop
        (`Store.leave`). Closing the last connection makes SQLite checkpoint its write-ahead
        log (fsyncs) and delete it, and the next process re-create it (another fsync): ~1.5 ms
        of every CLI call here, and four fsyncs on whatever disk the state is on. Left open,
        the log stays, and `leave` truncates it once it has grown (SQLite's own automatic
        checkpoint cannot bound it across processes: see `SqliteStore.leave`). Commits survive
        the exit either way; a power loss may take back those since the last checkpoint
        (`synchronous=NORMAL`).
        """
        self.paths = paths or Paths()
        self._leave_store_to_exit = leave_store_to_exit
        self._bridge_config = bridge_config
        self._store: Store | None = None
        self._nl: Netlink | None = None
        # (network ID, bridge name) -> ifindex of bridges this engine has readied: a later attach
        # skips the lookup (and retries through ready_bridge if the kernel refuses the index).
        self._bridges: dict[tuple[str, str], int] = {}
        self._initial_ns_ids: frozenset[tuple[int, int]] | None = None
        # The host is the namespace we are created in; work that is not netlink (nft, sysctls,
        # forking a monitor) is done entered into it, whatever thread or namespace calls us.
        self.host_fd = netns.current_netns_fd()
        host = os.fstat(self.host_fd)
        self._host_ns = (host.st_dev, host.st_ino)

    # -- handles, opened on first use -------------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            from dockline.store import open_store

            self._store = open_store(self.paths.root)
        return self._store

    @property
    def nl(self) -> Netlink:
        if self._nl is None:
            self._nl = Netlink.open(self.host_fd)
        return self._nl

    @property
    def host(self) -> Host:
        return Host(self.nl, self.host_fd, lambda: self.bridge_config)

    def in_host(self) -> AbstractContextManager[None]:
        """Run a block entered into the host namespace (for nft, sysctls and forks)."""
        return netns.entered(self.host_fd)

    @property
    def bridge_config(self) -> BridgeConfig:
        if self._bridge_config is None:
            self._bridge_config = load_bridge_config(self.paths.config)
        return self._bridge_config

    def close(self) -> None:
        if self.host_fd >= 0:
            os.close(self.host_fd)
            self.host_fd = -1
        if self._nl is not None:
            self._nl.close()
            self._nl = None
        if self._store is not None and self._leave_store_to_exit:
            self._store.leave()
        elif self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- networks --------------------------------------------------------------------------
    def network(self, name: str = DEFAULT_NETWORK) -> Network:
        """A network by name or ID (the default `bridge` network is made on first use)."""
        undo = Rollback()
        with self.store.transaction(undo) as txn:
            network, new = get_network(txn, self.host, name, undo)
            self.ready_bridge(txn, undo, network, new=new)
        return network

    def _bridge_of(
        self, txn: Txn, undo: Rollback, network: Network, *, new: bool
    ) -> tuple[int, Callable[[], int] | None]:
        """The bridge ifindex to attach to, and how to ready the bridge again if the kernel
        refuses a remembered index (None when the index was just looked up)."""
        known = None if new else self._bridges.get((network.id, network.bridge))
        if known is None:
            return self.ready_bridge(txn, undo, network, new=new), None
        return known, lambda: self.ready_bridge(txn, undo, network, new=False)

    def ready_bridge(self, txn: Txn, undo: Rollback, network: Network, *, new: bool) -> int:
        """The network's bridge ifindex, the bridge made and up (`networks.ready_network`).

        Remembered, so that later attaches through this engine skip the lookup: the kernel
        checks the index itself when a veth is put on it, and a refused index sends the attach
        back here. The kernel does not give a deleted device's index to a new one (it allocates
        them cyclically) unless told to (`ip link add ... index N`). A bridge someone set down by
        hand is set up again by the next engine (each CLI call is one), not by this one.
        """
        index = ready_network(self.host, network, txn, undo, new=new)
        self._bridges[network.id, network.bridge] = index
        return index

    def networks(self) -> list[Network]:
        with self.store.transaction() as txn:
            return txn.list_networks()

    def endpoints(self, network: str | None = None) -> list[Endpoint]:
        with self.store.transaction() as txn:
            network_id = None
            if network is not None:
                found = txn.get_network(network)
                if found is None:
                    raise NotFound("network", network)
                network_id = found.id
            return txn.list_endpoints(network_id=network_id)

    # -- connect / disconnect a namespace --------------------------------------------------
    def connect(
        self,
        network: str = DEFAULT_NETWORK,
        *,
        pid: int | None = None,
        netns_path: str | None = None,
        ifname: str = "eth0",
        ip: IPv4Address | str | None = None,
        mac: str | None = None,
    ) -> Endpoint:
        """Docker's five steps for a namespace given by the pid of a process in it, or a path.

        With a pid the namespace is also made visible as `<netns_dir>/<pid>`, as the source
        document does by hand; it goes away with the process.
        """
        validate_ifname(ifname)
        ip = ipam.as_ipv4(ip) if ip is not None else None
        mac = ipam.parse_mac(mac) if mac is not None else None
        ref, fd = open_target(pid, netns_path)
        try:
            undo = Rollback()
            with self.store.transaction(undo) as txn:
                endpoint = self.attach(
                    txn,
                    undo,
                    network,
                    ref,
                    fd,
                    ifname=ifname,
                    ip=ip,
                    mac=mac,
                    link_name=str(pid) if pid is not None else None,
                )
        finally:
            os.close(fd)
        return endpoint

    def check_not_host(self, ref: NetnsRef) -> None:
        """Refuse the host's own namespace, and the machine's initial one: a container is never
        in either (an engine may run in a namespace of its own, as in tests and the demo, and
        a pid given to connect may still be a process of the machine's own network).

        Both identities are read once per engine (syscalls fewer per attach): the host's is the
        fd the engine holds, and init and the kernel's threads do not change namespaces.
        """
        if self._host_ns == (ref.dev, ref.ino):
            raise InvalidArgument("target", ref.path, "is the host's own network namespace")
        if (ref.dev, ref.ino) in self._initial_ns:
            raise InvalidArgument("target", ref.path, "is the machine's initial network namespace")

    @property
    def _initial_ns(self) -> frozenset[tuple[int, int]]:
        if self._initial_ns_ids is None:
            self._initial_ns_ids = netns.initial_netns_ids()
        return self._initial_ns_ids

    def attach(
        self,
        txn: Txn,
        undo: Rollback,
        network_name: str,
        ref: NetnsRef,
        netns_fd: int,
        *,
        ifname: str = "eth0",
        ip: IPv4Address | None = None,
        mac: str | None = None,
        container_id: str | None = None,
        link_name: str | None = None,
    ) -> Endpoint:
        """Attach inside a caller's transaction and undo stack (used by `connect` and `run`).

        `netns_fd` is the namespace `ref` was read from (`netns.open_pid_netns` or
        `open_path_netns`): what is configured is what is recorded. It is never the host's
        own namespace nor the machine's initial one, whoever the caller.

        The `<netns_dir>/<link_name>` link is made last, just before the caller commits: a
        crash before the commit leaves at most that link, marked as dockline's, which `gc`
        removes as no record names it. A link that was there already is not ours: neither
        marked, recorded nor undone.
        """
        self.check_not_host(ref)
        network, new = get_network(txn, self.host, network_name, undo)
        if find_endpoint(txn.endpoints_of_target(network.id, ref), ref) is not None:
            raise Conflict(
                f"network namespace {ref.path} is already connected to network {network.name}"
            )
        link = None
        if link_name is not None and ref.pid is not None:
            link = os.path.join(self.paths.netns_dir, link_name)
        planned = plan_endpoint(
            txn,
            network,
            ref,
            endpoint_id=new_id(),
            ifname=ifname,
            ip=ip,
            mac=mac,
            container_id=container_id,
            netns_link=link,
            now=time.time(),
        )
        bridge_index, reready = self._bridge_of(txn, undo, network, new=new)
        endpoint = setup_endpoint(
            self.nl,
            planned,
            network=network,
            bridge_index=bridge_index,
            netns_fd=netns_fd,
            undo=undo,
            txn=txn,
            reready=reready,
        )
        if link is not None and ref.pid is not None:
            return link_endpoint_netns(txn, undo, endpoint, link, ref.pid, owner=self.paths.root)
        return endpoint

    def disconnect(
        self,
        network: str = DEFAULT_NETWORK,
        *,
        pid: int | None = None,
        netns_path: str | None = None,
    ) -> Endpoint:
        """Undo `connect`: the veth, the lease, the record and the /run/netns link go."""
        ref = gone_target(pid, netns_path)
        with self.store.transaction() as txn:
            found = txn.get_network(network)
            if found is None:
                raise NotFound("network", network)
            endpoint = find_endpoint(txn.endpoints_of_target(found.id, ref), ref)
            if endpoint is None:
                raise NotFound("endpoint", f"{ref.path} on network {found.name}")
            failures = self.detach(txn, [endpoint])
        if failures:
            raise TeardownError("disconnect", failures)
        return endpoint

    def detach(
        self, txn: Txn, endpoints: list[Endpoint], *, delete_veths: bool = True
    ) -> list[BaseException]:
        """Tear endpoints down: every step is tried, and the failures are returned, so the
        records still go (a later `gc` retries the kernel side).

        Deleting veths one at a time costs the kernel ~20 ms each; many go in one batch.
        `delete_veths=False` is for namespaces that are dying anyway (the kernel removes the pair).
        """
        failures: list[BaseException] = []
        if delete_veths:
            failures += self._delete_veths([e.host_ifname for e in endpoints])
        for endpoint in endpoints:
            if endpoint.netns_link is not None:
                try:
                    netns.unlink_netns(endpoint.netns_link)
                except OSError as err:
                    failures.append(err)
            txn.release_leases(endpoint.id)
            txn.delete_endpoint(endpoint.id)
        return failures

    def _delete_veths(self, names: list[str]) -> list[BaseException]:
        if len(names) == 1:
            try:
                delete_link(self.nl, names[0], missing_ok=True)
            except KernelError as err:
                return [err]
            return []
        return list(delete_links(self.nl, names))

    # -- reconcile -------------------------------------------------------------------------
    def gc(self) -> GcReport:
        """Make the store and the kernel agree after crashes; safe to run any time, twice."""
        from dockline.runtime.gc import collect

        report = GcReport()
        with self.store.transaction() as txn:
            collect(self, txn, report)
            links = list_links(self.nl)
            self._release_endpoints_without_veth(txn, links, report)
            endpoints, networks = txn.list_endpoints(), txn.list_networks()
            self._remove_unrecorded_veths(endpoints, networks, links, report)
            self._remove_unrecorded_default_bridge(networks, links, report)
            self._remove_unrecorded_netns_links(txn, endpoints, report)
            # Under the lock: a first network made meanwhile by another process keeps its table.
            if networks:
                apply_firewall(self.host, networks, txn)
            else:  # a crash while the first network was made: its table outlived the rollback
                restore_firewall(self.host, [])
        _remove_dangling_pid_links(self.paths.netns_dir, report)
        return report

    def _release_endpoints_without_veth(
        self, txn: Txn, links: list[Link], report: GcReport
    ) -> None:
        """Endpoints whose veth is gone (a crash mid-disconnect, a veth deleted by hand): their
        records and leases go, or the address stays taken for good."""
        present = {link.name for link in links}
        gone = [e for e in txn.list_endpoints() if e.host_ifname not in present]
        if gone:
            report.errors += [str(f) for f in self.detach(txn, gone, delete_veths=False)]
            report.endpoints += [e.id for e in gone]

    def _remove_unrecorded_veths(
        self,
        endpoints: list[Endpoint],
        networks: list[Network],
        links: list[Link],
        report: GcReport,
    ) -> None:
        """Our-shaped veths with no endpoint record (a crash mid-connect) on our bridges: those
        of the networks, and the default bridge's name even with no network recorded (a crash
        while the first network was made)."""
        bridges = {n.bridge for n in networks} | {DEFAULT_BRIDGE}
        bridge_index = {link.index for link in links if link.name in bridges}
        recorded = {e.host_ifname for e in endpoints}
        stray = [
            link.name
            for link in links
            if link.kind == "veth"
            and link.master in bridge_index
            and is_host_ifname(link.name)
            and link.name not in recorded
        ]
        for err in self._delete_veths(stray):
            report.errors.append(str(err))
        report.links += stray

    def _remove_unrecorded_netns_links(
        self, txn: Txn, endpoints: list[Endpoint], report: GcReport
    ) -> None:
        """Links that `link_netns` made for this store (marked with its root) and no endpoint
        or container names: a crash between a link and its commit, while the process still
        lives. Under the store's lock, so no connect of this store is between the two meanwhile;
        another store's links (another host sharing the directory) are not ours to judge."""
        recorded = {e.netns_link for e in endpoints}
        recorded |= {c.sandbox_key for c in txn.list_containers()}
        for path in netns.marked_links(self.paths.netns_dir, self.paths.root):
            if path in recorded:
                continue
            try:
                netns.unlink_netns(path)
            except (KernelError, InvalidArgument) as err:  # replaced meanwhile by a non-link
                report.errors.append(str(err))
            else:
                report.netns_links.append(path)

    def _remove_unrecorded_default_bridge(
        self, networks: list[Network], links: list[Link], report: GcReport
    ) -> None:
        """`dockline0` with no network recorded on it: made by a first connect or run that
        crashed before its commit (the name is ours; a bridge given in the config is not)."""
        if any(n.bridge == DEFAULT_BRIDGE for n in networks):
            return
        if any(link.name == DEFAULT_BRIDGE and link.kind == "bridge" for link in links):
            try:
                delete_link(self.nl, DEFAULT_BRIDGE, missing_ok=True)
                report.links.append(DEFAULT_BRIDGE)
            except KernelError as err:
                report.errors.append(str(err))


def _remove_dangling_pid_links(netns_dir: str, report: GcReport) -> None:
    """The source document's `find -L /var/run/netns -type l -delete`, limited to our links."""
    for path in netns.dangling_links(netns_dir):
        name = os.path.basename(path)
        target = os.readlink(path)
        ours = name.startswith("dockline-") or (name.isdigit() and target == f"/proc/{name}/ns/net")
        if ours:
            netns.unlink_netns(path)
            report.netns_links.append(path)


def link_endpoint_netns(
    txn: Txn, undo: Rollback, endpoint: Endpoint, link: str, pid: int, *, owner: str
) -> Endpoint:
    """Make the `link` to process `pid`'s namespace, marked as `owner`'s; recorded and undone
    only if it is new."""
    dirname, name = os.path.split(link)
    if netns.link_netns(dirname, name, pid, undo=undo, owner=owner):
        return endpoint
    endpoint = endpoint._replace(netns_link=None)
    txn.put_endpoint(endpoint)
    return endpoint


def open_target(pid: int | None, netns_path: str | None) -> tuple[NetnsRef, int]:
    """Exactly one of pid or path: the namespace it names, checked and open (the caller closes
    the fd) before anything is done."""
    _check_one_target(pid, netns_path)
    if pid is not None:
        return netns.open_pid_netns(pid)
    assert netns_path is not None
    return netns.open_path_netns(netns_path)


def gone_target(pid: int | None, netns_path: str | None) -> NetnsRef:
    """What `disconnect` looks for: the namespace a pid or path names, or, when it is gone,
    the pid or path alone (the endpoint is then found by what it was connected with)."""
    _check_one_target(pid, netns_path)
    if pid is not None:
        return NetnsRef(path=f"/proc/{pid}/ns/net", dev=0, ino=0, pid=pid)
    assert netns_path is not None
    if not os.path.exists(netns_path):
        return NetnsRef(path=netns_path, dev=0, ino=0)
    return netns.ref_for_path(netns_path)


def _check_one_target(pid: int | None, netns_path: str | None) -> None:
    if (pid is None) == (netns_path is None):
        raise InvalidArgument("target", "", "give exactly one of --pid or --netns")
    if pid is not None and pid <= 0:
        raise InvalidArgument("pid", pid, "must be a positive integer")


def find_endpoint(endpoints: list[Endpoint], ref: NetnsRef) -> Endpoint | None:
    """The endpoint in this namespace.

    A live namespace is matched by its identity (and, for a process, by pid *and* start time,
    since both pids and namespace inodes are reused); a dead one, which has no identity left,
    by the pid or path it was connected with.
    """
    for e in endpoints:
        if ref.ino:
            same_ns = (e.netns.dev, e.netns.ino) == (ref.dev, ref.ino)
            same_process = (
                e.netns.pid is None
                or ref.pid is None
                or ((e.netns.pid, e.netns.pid_start) == (ref.pid, ref.pid_start))
            )
            if same_ns and same_process:
                return e
        elif e.netns.pid == ref.pid if ref.pid is not None else e.netns.path == ref.path:
            return e
    return None
