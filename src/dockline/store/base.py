"""The state store interface: what the engine needs from any backend (SQLite now, etcd later).

A backend gives transactions; every dockline operation runs inside exactly one. A transaction is
serialisable against every other process using the same store (SQLite: `BEGIN IMMEDIATE`; etcd:
a lock lease), commits when its `with` block ends normally and rolls back on an exception. The
engine holds one open across the kernel steps of an operation, so that a crash (even `kill -9`)
rolls the store back by itself and leaves at most kernel objects, which `gc` can find.

Lookups return None for "absent"; writes raise `Conflict` where uniqueness would break.
"""

from __future__ import annotations

from dockline.model import Container, Endpoint, IPAddress, NetnsRef, Network
from dockline.records import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from dockline.rollback import Rollback


class Txn(Protocol):
    """One serialisable unit of work on the store."""

    # networks
    def get_network(self, name_or_id: str) -> Network | None:
        """By exact name, full ID, or unique ID prefix."""
        ...

    def list_networks(self) -> list[Network]: ...

    def put_network(self, network: Network) -> None:
        """Insert or replace by ID; Conflict if another network has that name."""
        ...

    def delete_network(self, network_id: str) -> None: ...

    # containers
    def get_container(self, name_or_id: str) -> Container | None:
        """By exact name, full ID, or unique ID prefix; Conflict if a prefix is ambiguous."""
        ...

    def list_containers(self) -> list[Container]: ...

    def containers_joined_to(self, container_id: str) -> list[Container]:
        """Containers recorded with `--net=container:<container_id>` (the full ID), without
        reading every container (~11 ms at 1,000, per container that exits)."""
        ...

    def put_container(self, container: Container) -> None:
        """Insert or replace by ID; Conflict if another container has that name."""
        ...

    def delete_container(self, container_id: str) -> None: ...

    # endpoints
    def get_endpoint(self, endpoint_id: str) -> Endpoint | None: ...

    def list_endpoints(
        self, *, network_id: str | None = None, container_id: str | None = None
    ) -> list[Endpoint]: ...

    def endpoints_of_target(self, network_id: str, target: NetnsRef) -> list[Endpoint]:
        """Endpoints on a network that may be `target`'s: those recorded for its namespace
        identity when it has one (an indexed lookup), else for its pid, else for its path.

        The caller picks among them (`engine.find_endpoint`); this only spares it reading and
        parsing every endpoint of the network (~21 ms at 1,000, per `network disconnect`).
        """
        ...

    def put_endpoint(self, endpoint: Endpoint) -> None:
        """Insert or replace by ID; Conflict if the host_ifname is already recorded."""
        ...

    def delete_endpoint(self, endpoint_id: str) -> None: ...

    # IPAM
    def leased_addresses(self, network_id: str) -> set[IPAddress]: ...

    def is_leased(self, network_id: str, address: IPAddress) -> bool:
        """One address's lease, without reading them all (an attach probes only a few)."""
        ...

    def add_lease(self, network_id: str, address: IPAddress, endpoint_id: str) -> None:
        """Reserve one address; Conflict naming the address if it is already leased."""
        ...

    def release_leases(self, endpoint_id: str) -> None:
        """Drop every lease held by an endpoint (no error if none)."""
        ...

    def get_ipam_cursor(self, network_id: str) -> IPAddress | None:
        """The last address handed out on the network, so the next one starts after it."""
        ...

    def set_ipam_cursor(self, network_id: str, address: IPAddress) -> None: ...

    def get_setting(self, key: str) -> str | None:
        """A fact about the host that belongs to no network (None if never set)."""
        ...

    def set_setting(self, key: str, value: str) -> None: ...


class Store(Protocol):
    """A state backend."""

    def transaction(self, undo: Rollback | None = None) -> AbstractContextManager[Txn]:
        """Begin an exclusive (write) transaction; commit on normal exit, roll back on error.

        The kernel steps in `undo` are undone on error, and on a failed commit, *before* the
        store rolls back: while other processes still wait for the lock."""
        ...

    def close(self) -> None: ...

    def leave(self) -> None:
        """Instead of `close`, in a process about to exit without closing (the CLI): leave the
        store as quick to open for the next process as closing would."""
        ...
