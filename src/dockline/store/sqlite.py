"""The embedded state store: one SQLite file in a private directory, shared by all dockline runs.

Each operation is one `BEGIN IMMEDIATE` transaction, so concurrent CLI runs serialise on SQLite's
write lock (waiting up to 30 s) and a process killed mid-way leaves no half-written state. WAL mode
lets readers proceed beside the writer. The first run builds the database aside and links it into
place; the schema is versioned with `PRAGMA user_version`, which later opens only read.

This module owns the queries and uniqueness errors (`rows.py` converts rows); it does not
validate names, IDs or addresses (the callers do) and touches nothing but its own directory.
"""

from __future__ import annotations

import os
import stat

from dockline.addr import ip_address
from dockline.errors import Conflict, ExitStatus, NotFound, StoreError
from dockline.lean import cache, import_sqlite
from dockline.model import Container, Endpoint, IPAddress, NetnsRef, Network
from dockline.records import TYPE_CHECKING
from dockline.store.rows import (
    container_params,
    endpoint_params,
    network_params,
    row_to_container,
    row_to_endpoint,
    row_to_network,
)

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, TypeVar

    from dockline.rollback import Rollback

    T = TypeVar("T")
else:
    # The C module that `sqlite3` wraps, alone: the package adds `datetime` adapters that we never
    # use (timestamps are floats) and `datetime` costs ~3 ms of every CLI start. Imported without
    # `functools`, ~2 ms more (see `lean`).
    sqlite3 = import_sqlite()

DB_NAME = "dockline.db"
SCHEMA_VERSION = 3
# Facts about the host that are no network's (`forwarding`: who turned IPv4 forwarding on).
_SETTINGS = "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
# What takes a store of version N (the key) to N + 1, in one transaction with the version bump.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE containers ADD COLUMN env TEXT NOT NULL DEFAULT '[]'",),
    2: (_SETTINGS,),
}
BUSY_TIMEOUT_S = 30
# A process that leaves its connection to the exit truncates the write-ahead log past this size
# (128 pages of 4 KiB: ~16 attaches' worth), so the next process reads at most that much of it.
LOG_TRUNCATE_BYTES = 128 * 4096
_NETWORKS_CACHED = 256  # parsed network rows kept per store (see SqliteStore._networks)

# Leases name their endpoint without a foreign key: an address is reserved before its endpoint
# row exists (plan, then record), and delete_endpoint releases them explicitly.
_SCHEMA = (
    """CREATE TABLE networks (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT NOT NULL,
        bridge TEXT NOT NULL, subnet TEXT NOT NULL, gateway TEXT NOT NULL, ip_range TEXT,
        default_gateway TEXT, mtu INTEGER NOT NULL, managed_bridge INTEGER NOT NULL,
        created REAL NOT NULL)""",
    """CREATE TABLE containers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, net_mode TEXT NOT NULL,
        net_target TEXT NOT NULL, command TEXT NOT NULL, state TEXT NOT NULL, pid INTEGER,
        pid_start INTEGER, monitor_pid INTEGER, monitor_start INTEGER, hostname TEXT NOT NULL,
        rootfs TEXT, privileged INTEGER NOT NULL, auto_remove INTEGER NOT NULL,
        exit_code INTEGER, created REAL NOT NULL, started REAL, finished REAL,
        requested_ip TEXT, requested_mac TEXT, sandbox_key TEXT, env TEXT NOT NULL)""",
    """CREATE TABLE endpoints (
        id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks(id),
        container_id TEXT, netns_path TEXT NOT NULL, netns_dev INTEGER NOT NULL,
        netns_ino INTEGER NOT NULL, netns_pid INTEGER, netns_pid_start INTEGER,
        ifname TEXT NOT NULL, host_ifname TEXT NOT NULL UNIQUE, mac TEXT NOT NULL,
        addresses TEXT NOT NULL, gateway TEXT, netns_link TEXT, created REAL NOT NULL)""",
    "CREATE INDEX endpoints_by_netns ON endpoints(network_id, netns_dev, netns_ino)",
    "CREATE INDEX endpoints_by_container ON endpoints(container_id)",
    """CREATE TABLE leases (
        network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        address TEXT NOT NULL, endpoint_id TEXT NOT NULL,
        PRIMARY KEY (network_id, address)) WITHOUT ROWID""",
    "CREATE INDEX leases_by_endpoint ON leases(endpoint_id)",
    """CREATE TABLE ipam_cursor (
        network_id TEXT PRIMARY KEY REFERENCES networks(id) ON DELETE CASCADE,
        address TEXT NOT NULL) WITHOUT ROWID""",
    _SETTINGS,
)


@cache
def _upsert_sql(table: str, cols: tuple[str, ...]) -> str:
    """Insert or update by id in place (no delete+insert, so foreign keys see no deletion).

    The columns are the keys of the row's parameter dict, so that dict is their one definition.
    """
    names = ", ".join(cols)
    values = ", ".join(f":{c}" for c in cols)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
    return (
        f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT(id) DO UPDATE SET {updates}"
    )


class SqliteStore:
    """The state store in `root/dockline.db`; `root` must be a real directory we own."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.path = os.path.join(root, DB_NAME)
        ensure_private_dir(root)
        if not check_private_file(self.path):
            create_database(self.path)
            check_private_file(self.path)
        self._conn = _connect(self.path)
        self._in_txn = False
        # Parsed network rows by their values: an attach reads its network every time, and
        # parsing the addresses again cost ~20 us of a ~1 ms attach (issue 3). Keyed by the whole
        # row, so a network changed by another process is parsed afresh; records are immutable.
        self._networks: dict[tuple[object, ...], Network] = {}

    def transaction(self, undo: Rollback | None = None) -> Transaction:
        """An exclusive transaction: commit when the block ends normally, roll back on error.

        `undo` holds the kernel steps taken in the block: on error (or a failed commit) they
        are undone before the store rolls back, while the lock is still held, so no other
        process can build on what is being undone (a bridge, a firewall table)."""
        return Transaction(self, undo)

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"state store {self.path}: cannot begin a transaction "
                f"(waited up to {BUSY_TIMEOUT_S} s for other dockline processes): {exc}"
            ) from exc

    def _commit(self) -> None:
        """COMMIT; on failure the transaction is left to the caller to roll back."""
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"state store {self.path}: commit failed: {exc}") from exc

    def _rollback(self) -> None:
        if self._conn.in_transaction:  # SQLite may have rolled back by itself already
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()

    def leave(self) -> None:
        """Instead of `close`, in a process about to exit without closing (the CLI): fold a
        write-ahead log grown past LOG_TRUNCATE_BYTES into the database and truncate it.

        Closing the last connection does that every time (fsyncs: ~1.5 ms a call); leaving
        without it is cheap, but only if someone bounds the log. SQLite's own automatic
        checkpoint cannot: a process that opens the store with no other connection open reads
        the whole log to rebuild its index and cannot tell how much of it the database already
        holds, so the log is never restarted, grows by every call, and every call reads it all
        and checkpoints it all again (10 ms a call after 300 calls, measured). Without waiting
        for a reader in the middle of a transaction: the checkpoint is then skipped, and the
        next process tries again. A failure is ignored for the same reason: what this command
        did is committed already, and the log stays consistent.
        """
        try:
            if os.stat(f"{self.path}-wal").st_size <= LOG_TRUNCATE_BYTES:
                return
        except FileNotFoundError:
            return
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.OperationalError:
            pass
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")


class Transaction:
    """`with store.transaction() as txn:` (a class, not @contextmanager: `contextlib` costs
    ~0.6 ms of every CLI start)."""

    __slots__ = ("_store", "_txn", "_undo")

    def __init__(self, store: SqliteStore, undo: Rollback | None = None) -> None:
        self._store = store
        self._txn: SqliteTxn | None = None
        self._undo = undo

    def __enter__(self) -> SqliteTxn:
        store = self._store
        if store._in_txn:
            raise RuntimeError(f"nested transaction on state store {store.path}")
        store._in_txn = True
        try:
            store._begin()
        except BaseException:
            store._in_txn = False
            raise
        self._txn = SqliteTxn(store._conn, store._networks)
        return self._txn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        store = self._store
        try:
            if self._txn is not None:
                self._txn.close()
            if exc is None:
                try:
                    store._commit()
                except BaseException as failed:
                    self._undo_kernel(failed)
                    store._rollback()
                    raise
                if self._undo is not None:
                    self._undo.commit()
                return
            self._undo_kernel(exc)
            store._rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"state store {store.path}: {exc}") from exc
        finally:
            store._in_txn = False

    def _undo_kernel(self, exc: BaseException) -> None:
        """Run the undo steps (under the lock); their failures become notes on `exc`."""
        if self._undo is not None:
            for failure in self._undo.undo():
                exc.add_note(f"rollback step failed: {failure}")


def ensure_private_dir(root: str, what: str = "state directory") -> None:
    """Make `root` (mode 0700) if missing. An existing one is used as it is, never changed (a
    mistyped `--root /tmp` must not change /tmp), and refused if it is a symlink, not a
    directory, not ours, or writable by others (they could swap our files)."""
    st = _lstat_making(root, what)
    problem = _unsafe_dir_problem(st)
    if problem:
        raise _unusable_dir(f"{what} {root} {problem}")


def _lstat_making(root: str, what: str) -> os.stat_result:
    """`root`'s own status (a symlink not followed), made with mode 0700 first if missing."""
    try:
        try:
            return os.lstat(root)
        except FileNotFoundError:
            _make_private_dir(root, what)
            return os.lstat(root)
    except OSError as exc:  # a file on the way (ENOTDIR), a name too long, a symlink loop...
        raise _unusable_dir(f"cannot use {what} {root}: {exc.strerror}") from exc


def _make_private_dir(root: str, what: str) -> None:
    try:
        os.makedirs(root, mode=0o700)
    except FileExistsError:
        pass  # another process made it first; it is checked like any other
    except OSError as exc:
        raise _unusable_dir(f"cannot create {what} {root}: {exc.strerror}") from exc


def _unsafe_dir_problem(st: os.stat_result) -> str:
    """What makes a directory unfit to hold our state ("" if nothing), said after its name."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink; refusing to use it"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid != os.geteuid():
        return _not_ours(st)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(st.st_mode)
        return f"is writable by others (mode {mode:04o}); give dockline a directory of its own"
    return ""


def _unusable_dir(message: str) -> StoreError:
    """The error for a state or runtime directory dockline cannot use: dockline's own failure,
    so Docker's 125, whichever command met it (it has done nothing yet)."""
    err = StoreError(message)
    err.exit_status = ExitStatus.DOCKLINE
    return err


def check_private_file(path: str) -> bool:
    """False if the database file is missing; StoreError unless it is a regular file we own."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot open state store {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"state store {path} is not a regular file")
        _check_owner(path, st, "state store")
        if stat.S_IMODE(st.st_mode) != 0o600:
            os.fchmod(fd, 0o600)  # SQLite gives -wal/-shm the mode of the database file
    finally:
        os.close(fd)
    return True


def create_database(path: str) -> None:
    """Build a complete database (WAL mode, schema) aside, then link it into place atomically.

    Concurrent first runs each build their own and the first link wins, so no process ever sees
    a database without its schema, and nobody has to switch a shared file to WAL mode (which
    fails at once, not after the busy timeout, while another process is reading it).
    """
    tmp = f"{path}.new-{os.getpid()}"
    for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm", f"{tmp}-journal"):
        _unlink_missing_ok(leftover)  # from a crashed run that had our pid
    try:
        os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent, in the file header
            _create_schema(conn)
        finally:
            conn.close()
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process linked its database first; it is as good as ours
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot create state store {path}: {exc}") from exc
    finally:
        _unlink_missing_ok(tmp)


def _unlink_missing_ok(path: str) -> None:
    import contextlib  # only when a database is made (contextlib costs start-up time)

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _check_owner(path: str, st: os.stat_result, what: str) -> None:
    if st.st_uid != os.geteuid():
        raise StoreError(f"{what} {path} {_not_ours(st)}")


def _not_ours(st: os.stat_result) -> str:
    return f"is owned by uid {st.st_uid}, not {os.geteuid()}; refusing to use it"


def _connect(path: str) -> sqlite3.Connection:
    """Open the database and check its schema version; per-connection settings every time."""
    old_umask = os.umask(0o077)  # belt and braces for -wal/-shm, should SQLite create them
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint the log at 256 pages (1 MiB) rather than 1,000, for connections that
            # stay open (the API); CLI processes bound it themselves on leaving (`leave`).
            conn.execute("PRAGMA wal_autocheckpoint = 256")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                _adopt_database(conn, path, version)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"state store {path} is unusable: {exc}") from exc
    finally:
        os.umask(old_umask)
    return conn


def _adopt_database(conn: sqlite3.Connection, path: str, version: int) -> None:
    """A database file we did not create (say, an empty one), or one of an older dockline:
    give it our schema in place."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"state store {path} has schema version {version}; this dockline knows only "
            f"up to {SCHEMA_VERSION} (written by a newer dockline?)"
        )
    # If another process is reading, the switch fails at once; the file then stays in
    # rollback-journal mode: slower under contention, but BEGIN IMMEDIATE still serialises.
    import contextlib  # only when a database is adopted (contextlib costs start-up time)

    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode = WAL")
    _create_schema(conn)


def _create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring an older store's up to date, in one transaction, unless a
    concurrent process already has."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in _SCHEMA:
                conn.execute(statement)
        elif version < SCHEMA_VERSION:
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SqliteTxn:
    """One open transaction; every method runs inside it. Unusable once its block has ended."""

    def __init__(
        self, conn: sqlite3.Connection, networks: dict[tuple[object, ...], Network]
    ) -> None:
        """`networks`: the store's parsed network rows, shared by its transactions."""
        self._conn: sqlite3.Connection | None = conn
        self._networks = networks

    def close(self) -> None:
        self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("state store transaction used after its block ended")
        return self._conn

    # networks

    def get_network(self, name_or_id: str) -> Network | None:
        return _lookup(self._db(), "networks", "network", name_or_id, self._network_of)

    def list_networks(self) -> list[Network]:
        rows = self._db().execute("SELECT * FROM networks ORDER BY created, name")
        return [self._network_of(r) for r in rows]

    def _network_of(self, row: sqlite3.Row) -> Network:
        key = tuple(row)
        network = self._networks.get(key)
        if network is None:
            if len(self._networks) >= _NETWORKS_CACHED:
                self._networks.clear()
            network = self._networks[key] = row_to_network(row)
        return network

    def put_network(self, network: Network) -> None:
        try:
            _put(self._db(), "networks", network_params(network))
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname == "SQLITE_CONSTRAINT_UNIQUE":
                raise Conflict(f'network with name "{network.name}" already exists') from None
            raise

    def delete_network(self, network_id: str) -> None:
        db = self._db()
        row = db.execute(
            "SELECT name, (SELECT count(*) FROM endpoints WHERE network_id = :id) AS n"
            " FROM networks WHERE id = :id",
            {"id": network_id},
        ).fetchone()
        if row is None:
            return
        if row["n"]:
            raise Conflict(f"network {row['name']} has {row['n']} active endpoint(s)")
        db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    # containers

    def get_container(self, name_or_id: str) -> Container | None:
        return _lookup(self._db(), "containers", "container", name_or_id, row_to_container)

    def list_containers(self) -> list[Container]:
        rows = self._db().execute("SELECT * FROM containers ORDER BY created, name")
        return [row_to_container(r) for r in rows]

    def containers_joined_to(self, container_id: str) -> list[Container]:
        rows = self._db().execute(
            "SELECT * FROM containers WHERE net_mode = 'container' AND net_target = ?"
            " ORDER BY created, name",
            (container_id,),
        )
        return [row_to_container(r) for r in rows]

    def put_container(self, container: Container) -> None:
        db = self._db()
        try:
            _put(db, "containers", container_params(container))
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname != "SQLITE_CONSTRAINT_UNIQUE":
                raise
            holder = db.execute(
                "SELECT id FROM containers WHERE name = ?", (container.name,)
            ).fetchone()
            by = f" by container {holder['id'][:12]}" if holder else ""
            raise Conflict(f'container name "{container.name}" is already in use{by}') from None

    def delete_container(self, container_id: str) -> None:
        self._db().execute("DELETE FROM containers WHERE id = ?", (container_id,))

    # endpoints

    def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        row = self._db().execute("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,))
        found = row.fetchone()
        return None if found is None else row_to_endpoint(found)

    def list_endpoints(
        self, *, network_id: str | None = None, container_id: str | None = None
    ) -> list[Endpoint]:
        rows = self._db().execute(
            "SELECT * FROM endpoints WHERE (:net IS NULL OR network_id = :net)"
            " AND (:ctr IS NULL OR container_id = :ctr) ORDER BY created, id",
            {"net": network_id, "ctr": container_id},
        )
        return [row_to_endpoint(r) for r in rows]

    def put_endpoint(self, endpoint: Endpoint) -> None:
        db = self._db()
        try:
            _put(db, "endpoints", endpoint_params(endpoint))
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname == "SQLITE_CONSTRAINT_FOREIGNKEY":
                raise NotFound("network", endpoint.network_id) from None
            if exc.sqlite_errorname != "SQLITE_CONSTRAINT_UNIQUE":
                raise
            holder = db.execute(
                "SELECT id FROM endpoints WHERE host_ifname = ?", (endpoint.host_ifname,)
            ).fetchone()
            by = f" by endpoint {holder['id'][:12]}" if holder else ""
            raise Conflict(f"host interface {endpoint.host_ifname} is already in use{by}") from None

    def delete_endpoint(self, endpoint_id: str) -> None:
        db = self._db()
        db.execute("DELETE FROM leases WHERE endpoint_id = ?", (endpoint_id,))
        db.execute("DELETE FROM endpoints WHERE id = ?", (endpoint_id,))

    def endpoints_of_target(self, network_id: str, target: NetnsRef) -> list[Endpoint]:
        args: tuple[object, ...]
        if target.ino:
            where, args = "netns_dev = ? AND netns_ino = ?", (target.dev, target.ino)
        elif target.pid is not None:
            where, args = "netns_pid = ?", (target.pid,)
        else:
            where, args = "netns_path = ?", (target.path,)
        sql = f"SELECT * FROM endpoints WHERE network_id = ? AND {where}"
        return [row_to_endpoint(r) for r in self._db().execute(sql, (network_id, *args))]

    # IPAM

    def is_leased(self, network_id: str, address: IPAddress) -> bool:
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM leases WHERE network_id = ? AND address = ?",
                (network_id, str(address)),
            )
            .fetchone()
        )
        return row is not None

    def leased_addresses(self, network_id: str) -> set[IPAddress]:
        rows = self._db().execute("SELECT address FROM leases WHERE network_id = ?", (network_id,))
        return {ip_address(r[0]) for r in rows}

    def add_lease(self, network_id: str, address: IPAddress, endpoint_id: str) -> None:
        try:
            self._db().execute(
                "INSERT INTO leases (network_id, address, endpoint_id) VALUES (?, ?, ?)",
                (network_id, str(address), endpoint_id),
            )
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname == "SQLITE_CONSTRAINT_FOREIGNKEY":
                raise NotFound("network", network_id) from None
            raise Conflict(f"IP address {address} is already in use") from None

    def release_leases(self, endpoint_id: str) -> None:
        self._db().execute("DELETE FROM leases WHERE endpoint_id = ?", (endpoint_id,))

    def get_ipam_cursor(self, network_id: str) -> IPAddress | None:
        row = (
            self._db()
            .execute("SELECT address FROM ipam_cursor WHERE network_id = ?", (network_id,))
            .fetchone()
        )
        return None if row is None else ip_address(row[0])

    def set_ipam_cursor(self, network_id: str, address: IPAddress) -> None:
        try:
            self._db().execute(
                "INSERT INTO ipam_cursor (network_id, address) VALUES (?, ?)"
                " ON CONFLICT(network_id) DO UPDATE SET address = excluded.address",
                (network_id, str(address)),
            )
        except sqlite3.IntegrityError:
            raise NotFound("network", network_id) from None

    # Host settings

    def get_setting(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        self._db().execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _put(db: sqlite3.Connection, table: str, params: dict[str, Any]) -> None:
    db.execute(_upsert_sql(table, tuple(params)), params)


def _lookup(
    db: sqlite3.Connection,
    table: str,
    kind: str,
    key: str,
    convert: Callable[[sqlite3.Row], T],
) -> T | None:
    """Docker's lookup order: exact name, then full ID, then a unique ID prefix."""
    if not key:
        return None
    row = db.execute(f"SELECT * FROM {table} WHERE name = ?", (key,)).fetchone()
    if row is None:
        row = db.execute(f"SELECT * FROM {table} WHERE id = ?", (key,)).fetchone()
    if row is None:
        rows = db.execute(
            f"SELECT * FROM {table} WHERE substr(id, 1, ?) = ? LIMIT 2", (len(key), key)
        ).fetchall()
        if len(rows) > 1:
            raise Conflict(f"multiple {kind}s match prefix {key}")
        row = rows[0] if rows else None
    return None if row is None else convert(row)
