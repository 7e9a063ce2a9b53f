"""The SQLite state store: round trips, uniqueness, lookups, transactions, safety, concurrency.

Files and permissions are checked with os.stat and the database with a separate sqlite3
connection, not only through the store itself.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockline.addr import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from dockline.config import Paths
from dockline.engine import Engine
from dockline.errors import Conflict, NotFound, StoreError
from dockline.model import Container, Endpoint, NetMode, NetnsRef, Network
from dockline.store import open_store
from dockline.store.sqlite import LOG_TRUNCATE_BYTES, SCHEMA_VERSION, SqliteStore

NET_ID = "a" * 64


def make_network(id: str = NET_ID, name: str = "bridge", **changes: Any) -> Network:
    network = Network(
        id=id,
        name=name,
        driver="bridge",
        bridge="dockline0",
        subnet=IPv4Network("172.17.0.0/16"),
        gateway=IPv4Address("172.17.0.1"),
        created=1700000000.25,
    )
    return network._replace(**changes)


def make_container(id: str, name: str, **changes: Any) -> Container:
    container = Container(
        id=id,
        name=name,
        net_mode=NetMode("bridge"),
        command=("sh", "-c", "echo 'hi there' \"ü\""),
    )
    return container._replace(**changes)


def make_endpoint(id: str, host_ifname: str, **changes: Any) -> Endpoint:
    endpoint = Endpoint(
        id=id,
        network_id=NET_ID,
        netns=NetnsRef(path="/proc/123/ns/net", dev=4, ino=4026532281, pid=123, pid_start=9876),
        ifname="eth0",
        host_ifname=host_ifname,
        mac="02:42:ac:11:00:02",
        addresses=(IPv4Interface("172.17.0.2/16"),),
        gateway=IPv4Address("172.17.0.1"),
    )
    return endpoint._replace(**changes)


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def store(root: str) -> Iterator[SqliteStore]:
    s = SqliteStore(root)
    yield s
    s.close()


@pytest.fixture
def with_network(store: SqliteStore) -> SqliteStore:
    with store.transaction() as txn:
        txn.put_network(make_network())
    return store


def raw_rows(root: str, sql: str) -> list[tuple[object, ...]]:
    """Read the database through a connection of our own, not the store's."""
    conn = sqlite3.connect(os.path.join(root, "dockline.db"))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# round trips


@pytest.mark.parametrize(
    "network",
    [
        make_network(),
        make_network(
            ip_range=IPv4Network("172.17.5.0/24"),
            default_gateway=IPv4Address("172.17.0.254"),
            mtu=9000,
            managed_bridge=False,
        ),
    ],
)
def test_network_round_trip(store: SqliteStore, network: Network) -> None:
    with store.transaction() as txn:
        txn.put_network(network)
    with store.transaction() as txn:
        assert txn.get_network(network.name) == network
        assert txn.list_networks() == [network]


def test_network_changed_by_another_process_is_read_afresh(store: SqliteStore, root: str) -> None:
    """Parsed network rows are kept by their values: a change made elsewhere is never hidden."""
    network = make_network()
    with store.transaction() as txn:
        txn.put_network(network)
        assert txn.get_network(network.name) == network
    other = SqliteStore(root)
    try:
        with other.transaction() as txn:
            txn.put_network(network._replace(mtu=9000, bridge="br-other"))
    finally:
        other.close()
    with store.transaction() as txn:
        got = txn.get_network(network.name)
        assert got is not None and (got.mtu, got.bridge) == (9000, "br-other")
        assert txn.list_networks() == [got]


@pytest.mark.parametrize(
    "mode",
    [
        NetMode("bridge"),
        NetMode("bridge", "backend"),
        NetMode("host"),
        NetMode("none"),
        NetMode("container", "b" * 64),
    ],
)
def test_container_round_trip_each_net_mode(store: SqliteStore, mode: NetMode) -> None:
    full = make_container(
        "c" * 64,
        "web",
        net_mode=mode,
        state="exited",
        pid=4242,
        pid_start=123456,
        monitor_pid=4241,
        monitor_start=123450,
        hostname="cccccccccccc",
        rootfs="/srv/rootfs",
        privileged=True,
        auto_remove=True,
        exit_code=137,
        created=1.5,
        started=2.5,
        finished=3.5,
        requested_ip=IPv4Address("172.17.0.9"),
        requested_mac="02:42:ac:11:00:09",
        sandbox_key="/run/netns/cccc",
        env=(("B", "2"), ("A", "x=y")),
    )
    minimal = make_container("d" * 64, "db", net_mode=mode)
    with store.transaction() as txn:
        txn.put_container(full)
        txn.put_container(minimal)
    with store.transaction() as txn:
        assert txn.get_container("web") == full
        assert txn.get_container("db") == minimal
        assert txn.list_containers() == [minimal, full]  # by created time


def test_endpoint_round_trip(with_network: SqliteStore) -> None:
    dual = make_endpoint(
        "e1",
        "veth1111111",
        addresses=(IPv4Interface("172.17.0.2/16"), IPv6Interface("fd00::2/64")),
        gateway=IPv6Address("fd00::1"),
        container_id="c" * 64,
        netns_link="/run/netns/web",
        created=5.0,
    )
    bare = make_endpoint(
        "e2",
        "veth2222222",
        netns=NetnsRef(path="/run/netns/x", dev=4, ino=1),
        addresses=(),
        gateway=None,
    )
    with with_network.transaction() as txn:
        txn.put_endpoint(dual)
        txn.put_endpoint(bare)
    with with_network.transaction() as txn:
        assert txn.get_endpoint("e1") == dual
        assert txn.get_endpoint("e2") == bare
        assert txn.get_endpoint("e3") is None
        assert txn.list_endpoints() == [bare, dual]
        assert txn.list_endpoints(container_id="c" * 64) == [dual]
        assert txn.list_endpoints(network_id=NET_ID) == [bare, dual]
        assert txn.list_endpoints(network_id="other") == []


def test_containers_joined_to(store: SqliteStore) -> None:
    web = make_container("w" * 64, "web")
    side = make_container("s1", "side", net_mode=NetMode("container", "w" * 64), created=2.0)
    other = make_container("s2", "other", net_mode=NetMode("container", "x" * 64))
    named = make_container("s3", "named", net_mode=NetMode("bridge", "w" * 64))  # a network
    with store.transaction() as txn:
        for container in (web, side, other, named):
            txn.put_container(container)
    with store.transaction() as txn:
        assert txn.containers_joined_to("w" * 64) == [side]
        assert txn.containers_joined_to("s1") == []


def test_endpoints_of_target_by_identity_then_pid_then_path(with_network: SqliteStore) -> None:
    by_pid = make_endpoint("e1", "veth1111111")  # /proc/123/ns/net, dev 4, ino 4026532281
    by_path = make_endpoint("e2", "veth2222222", netns=NetnsRef("/run/netns/x", dev=4, ino=7))
    with with_network.transaction() as txn:
        txn.put_network(make_network("b" * 64, "other", bridge="dockline1"))
        txn.put_endpoint(by_pid)
        txn.put_endpoint(by_path)
        txn.put_endpoint(make_endpoint("e3", "veth3333333", network_id="b" * 64))
    with with_network.transaction() as txn:
        find = txn.endpoints_of_target
        # a live namespace: by its identity alone (pid and path are left to the caller)
        assert find(NET_ID, NetnsRef("/somewhere/else", dev=4, ino=4026532281)) == [by_pid]
        assert find(NET_ID, NetnsRef("/run/netns/x", dev=4, ino=8)) == []
        # a dead one: by the pid it was connected with, else by its path
        assert find(NET_ID, NetnsRef("/proc/123/ns/net", dev=0, ino=0, pid=123)) == [by_pid]
        assert find(NET_ID, NetnsRef("/proc/124/ns/net", dev=0, ino=0, pid=124)) == []
        assert find(NET_ID, NetnsRef("/run/netns/x", dev=0, ino=0)) == [by_path]
        assert find("b" * 64, NetnsRef("/run/netns/x", dev=0, ino=0)) == []


def test_put_replaces_by_id(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.put_network(make_network())
        txn.put_container(make_container("c1", "web"))
    with store.transaction() as txn:
        txn.put_network(make_network(name="renamed", mtu=1400))
        txn.put_container(make_container("c1", "web", state="running", pid=7))
    with store.transaction() as txn:
        assert txn.get_network("bridge") is None
        assert txn.list_networks() == [make_network(name="renamed", mtu=1400)]
        assert txn.list_containers() == [make_container("c1", "web", state="running", pid=7)]


def test_update_keeps_dependents(with_network: SqliteStore) -> None:
    """Replacing a network row must not cascade to its leases (upsert, not delete+insert)."""
    with with_network.transaction() as txn:
        txn.add_lease(NET_ID, IPv4Address("172.17.0.2"), "e1")
        txn.set_ipam_cursor(NET_ID, IPv4Address("172.17.0.2"))
        txn.put_network(make_network(mtu=1400))
    with with_network.transaction() as txn:
        assert txn.leased_addresses(NET_ID) == {IPv4Address("172.17.0.2")}
        assert txn.get_ipam_cursor(NET_ID) == IPv4Address("172.17.0.2")


# uniqueness


def test_container_name_taken(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.put_container(make_container("c" * 64, "web"))
    with pytest.raises(Conflict) as info, store.transaction() as txn:
        txn.put_container(make_container("d" * 64, "web"))
    assert str(info.value) == 'container name "web" is already in use by container cccccccccccc'
    with store.transaction() as txn:
        assert [c.id for c in txn.list_containers()] == ["c" * 64]


def test_network_name_taken(with_network: SqliteStore) -> None:
    with (
        pytest.raises(Conflict, match='network with name "bridge" already exists'),
        with_network.transaction() as txn,
    ):
        txn.put_network(make_network(id="b" * 64))


def test_host_ifname_taken(with_network: SqliteStore) -> None:
    with with_network.transaction() as txn:
        txn.put_endpoint(make_endpoint("e1", "veth1234567"))
    with (
        pytest.raises(
            Conflict, match=r"host interface veth1234567 is already in use by endpoint e1$"
        ),
        with_network.transaction() as txn,
    ):
        txn.put_endpoint(make_endpoint("e2", "veth1234567"))


def test_endpoint_on_unknown_network(store: SqliteStore) -> None:
    with pytest.raises(NotFound, match=f"no such network: {NET_ID}"), store.transaction() as txn:
        txn.put_endpoint(make_endpoint("e1", "veth1234567"))


# lookups


def test_lookup_order_and_prefixes(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.put_container(make_container("abc123" + "0" * 58, "web"))
        txn.put_container(make_container("abd456" + "0" * 58, "abc"))  # a name like a prefix
        txn.put_container(make_container("fff000" + "0" * 58, "db"))
    with store.transaction() as txn:
        assert _id(txn.get_container("web")) == "abc123"
        assert _id(txn.get_container("abc")) == "abd456"  # exact name beats the ID prefix
        assert _id(txn.get_container("abc123" + "0" * 58)) == "abc123"  # full ID
        assert _id(txn.get_container("abc1")) == "abc123"  # unique prefix
        assert _id(txn.get_container("f")) == "fff000"
        assert txn.get_container("abe") is None
        assert txn.get_container("") is None
        with pytest.raises(Conflict, match=r"^multiple containers match prefix ab$"):
            txn.get_container("ab")


def test_network_prefix_lookup(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.put_network(make_network(id="12ab" + "0" * 60, name="one"))
        txn.put_network(
            make_network(id="12cd" + "0" * 60, name="two", subnet=IPv4Network("10.0.0.0/8"))
        )
    with store.transaction() as txn:
        assert _name(txn.get_network("12a")) == "one"
        assert _name(txn.get_network("two")) == "two"
        with pytest.raises(Conflict, match="multiple networks match prefix 12"):
            txn.get_network("12")


def test_like_wildcards_are_not_patterns(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.put_container(make_container("abc", "web"))
        assert txn.get_container("%") is None
        assert txn.get_container("_bc") is None


def _id(container: Container | None) -> str:
    assert container is not None
    return container.id[:6]


def _name(network: Network | None) -> str:
    assert network is not None
    return network.name


# transactions


def test_rollback_on_exception_leaves_nothing(with_network: SqliteStore, root: str) -> None:
    with pytest.raises(ZeroDivisionError), with_network.transaction() as txn:
        txn.put_container(make_container("c1", "web"))
        txn.put_endpoint(make_endpoint("e1", "veth1234567"))
        txn.add_lease(NET_ID, IPv4Address("172.17.0.2"), "e1")
        txn.set_ipam_cursor(NET_ID, IPv4Address("172.17.0.2"))
        _ = 1 / 0
    for table in ("containers", "endpoints", "leases", "ipam_cursor"):
        assert raw_rows(root, f"SELECT * FROM {table}") == []
    assert len(raw_rows(root, "SELECT * FROM networks")) == 1


def test_rollback_after_conflict_keeps_earlier_state(with_network: SqliteStore) -> None:
    with pytest.raises(Conflict), with_network.transaction() as txn:
        txn.add_lease(NET_ID, IPv4Address("172.17.0.2"), "e1")
        txn.add_lease(NET_ID, IPv4Address("172.17.0.2"), "e2")
    with with_network.transaction() as txn:
        assert txn.leased_addresses(NET_ID) == set()


def test_nested_transaction_is_an_error(store: SqliteStore) -> None:
    with store.transaction(), pytest.raises(RuntimeError, match="nested"), store.transaction():
        pass
    with store.transaction() as txn:  # still usable afterwards
        assert txn.list_networks() == []


def test_txn_unusable_after_block(store: SqliteStore) -> None:
    with store.transaction() as txn:
        pass
    with pytest.raises(RuntimeError, match="after its block"):
        txn.list_networks()


def test_commit_is_visible_to_other_connections(store: SqliteStore, root: str) -> None:
    with store.transaction() as txn:
        txn.put_network(make_network())
    assert raw_rows(root, "SELECT name FROM networks") == [("bridge",)]


# IPAM records


def test_lease_conflict(with_network: SqliteStore) -> None:
    with with_network.transaction() as txn:
        txn.add_lease(NET_ID, IPv4Address("172.17.0.5"), "e1")
    with pytest.raises(Conflict) as info, with_network.transaction() as txn:
        txn.add_lease(NET_ID, IPv4Address("172.17.0.5"), "e2")
    assert str(info.value) == "IP address 172.17.0.5 is already in use"


def test_lease_on_unknown_network(store: SqliteStore) -> None:
    with pytest.raises(NotFound), store.transaction() as txn:
        txn.add_lease("nonet", IPv4Address("172.17.0.5"), "e1")
    with pytest.raises(NotFound), store.transaction() as txn:
        txn.set_ipam_cursor("nonet", IPv4Address("172.17.0.5"))


def test_delete_endpoint_releases_leases(with_network: SqliteStore, root: str) -> None:
    with with_network.transaction() as txn:
        txn.put_endpoint(make_endpoint("e1", "veth1111111"))
        txn.add_lease(NET_ID, IPv4Address("172.17.0.2"), "e1")
        txn.add_lease(NET_ID, IPv4Address("172.17.0.3"), "e1")
        txn.add_lease(NET_ID, IPv4Address("172.17.0.4"), "e2")
    with with_network.transaction() as txn:
        txn.delete_endpoint("e1")
        txn.delete_endpoint("e1")  # a second delete is a no-op
    assert raw_rows(root, "SELECT address, endpoint_id FROM leases") == [("172.17.0.4", "e2")]
    with with_network.transaction() as txn:
        assert txn.get_endpoint("e1") is None
        txn.release_leases("e2")
        txn.release_leases("e2")
        assert txn.leased_addresses(NET_ID) == set()


def test_cursor(with_network: SqliteStore) -> None:
    with with_network.transaction() as txn:
        assert txn.get_ipam_cursor(NET_ID) is None
        txn.set_ipam_cursor(NET_ID, IPv4Address("172.17.0.2"))
        txn.set_ipam_cursor(NET_ID, IPv4Address("172.17.0.3"))
    with with_network.transaction() as txn:
        assert txn.get_ipam_cursor(NET_ID) == IPv4Address("172.17.0.3")


def test_network_with_endpoints_cannot_be_deleted(with_network: SqliteStore, root: str) -> None:
    with with_network.transaction() as txn:
        txn.put_endpoint(make_endpoint("e1", "veth1111111"))
        txn.add_lease(NET_ID, IPv4Address("172.17.0.2"), "e1")
        txn.set_ipam_cursor(NET_ID, IPv4Address("172.17.0.2"))
    with (
        pytest.raises(Conflict, match="network bridge has 1 active endpoint"),
        with_network.transaction() as txn,
    ):
        txn.delete_network(NET_ID)
    with with_network.transaction() as txn:
        txn.delete_endpoint("e1")
        txn.add_lease(NET_ID, IPv4Address("172.17.0.9"), "pending")  # a lease with no endpoint
        txn.delete_network(NET_ID)
        txn.delete_network(NET_ID)  # absent: no error
    for table in ("networks", "leases", "ipam_cursor", "endpoints"):
        assert raw_rows(root, f"SELECT * FROM {table}") == []


def test_delete_container(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.put_container(make_container("c1", "web"))
    with store.transaction() as txn:
        txn.delete_container("c1")
        txn.delete_container("c1")
        assert txn.get_container("web") is None


# files and safety


def test_permissions(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "state"
    store = SqliteStore(str(root))
    try:
        with store.transaction() as txn:
            txn.put_network(make_network())
        assert (root.stat().st_mode & 0o7777) == 0o700
        names = sorted(os.listdir(root))
        assert names == ["dockline.db", "dockline.db-shm", "dockline.db-wal"]
        for name in names:
            st = os.stat(root / name)
            assert (st.st_mode & 0o7777) == 0o600, name
            assert st.st_uid == os.geteuid()
    finally:
        store.close()


def test_an_existing_directory_is_never_changed(tmp_path: Path) -> None:
    """A directory given as the root is used as it is (a mistyped `--root /tmp` must not change
    /tmp); our own database file in it is made private."""
    root = tmp_path / "state"
    root.mkdir(mode=0o755)
    (root / "dockline.db").touch(mode=0o644)
    os.chmod(root, 0o755)
    os.chmod(root / "dockline.db", 0o644)
    SqliteStore(str(root)).close()
    assert (root.stat().st_mode & 0o7777) == 0o755
    assert ((root / "dockline.db").stat().st_mode & 0o7777) == 0o600


def test_a_directory_made_earlier_is_taken_again_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "state"
    SqliteStore(str(root)).close()
    SqliteStore(str(root)).close()
    assert (root.stat().st_mode & 0o7777) == 0o700


@pytest.mark.parametrize("mode", [0o1777, 0o775, 0o757, 0o720])
def test_a_directory_others_may_write_is_refused_unchanged(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, mode)
    with pytest.raises(StoreError, match=f"state directory {root} is writable by others") as err:
        SqliteStore(str(root))
    assert err.value.exit_status == 125  # dockline's own failure, as Docker's
    assert (root.stat().st_mode & 0o7777) == mode
    assert os.listdir(root) == []


@pytest.mark.parametrize(
    ("below", "why"),
    [("afile/sub", "Not a directory"), ("loop/sub", "Too many levels"), ("x" * 300, "File name")],
)
def test_a_root_that_cannot_be_looked_at_is_a_one_line_error(
    tmp_path: Path, below: str, why: str
) -> None:
    """Every error of the look (not only "missing") is a StoreError naming the path, exit 125."""
    (tmp_path / "afile").write_text("")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    root = str(tmp_path / below)
    with pytest.raises(StoreError, match=f"cannot use state directory .*: {why}") as err:
        SqliteStore(root)
    assert root in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_status == 125


def test_symlinked_state_dir_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "state"
    link.symlink_to(real)
    with pytest.raises(StoreError, match=f"state directory {link} is a symlink"):
        SqliteStore(str(link))
    assert os.listdir(real) == []


def test_symlinked_db_file_refused(tmp_path: Path) -> None:
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.db"
    (root / "dockline.db").symlink_to(target)
    with pytest.raises(StoreError, match="cannot open state store"):
        SqliteStore(str(root))
    assert not target.exists()


def test_state_dir_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StoreError, match="is not a directory"):
        SqliteStore(str(tmp_path / "state"))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_foreign_state_dir_refused(tmp_path: Path) -> None:
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    with pytest.raises(StoreError, match=f"state directory {root} is owned by uid 65534"):
        SqliteStore(str(root))


def test_schema_created_once_and_data_persists(root: str) -> None:
    store = open_store(root)
    with store.transaction() as txn:
        txn.put_network(make_network())
    store.close()
    assert raw_rows(root, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_rows(root, "PRAGMA journal_mode") == [("wal",)]
    store = open_store(root)
    with store.transaction() as txn:
        assert txn.get_network("bridge") == make_network()
    store.close()


def test_newer_schema_refused(root: str) -> None:
    SqliteStore(root).close()
    conn = sqlite3.connect(os.path.join(root, "dockline.db"))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer dockline"):
        SqliteStore(root)


def test_a_store_of_an_older_dockline_is_brought_up_to_date(root: str) -> None:
    """Version 1 had no `env` column and no `settings` table: opening it adds both (in place,
    data kept), and its containers read with no `-e` values."""
    from dockline.store import sqlite as schema

    os.makedirs(root, mode=0o700)
    conn = sqlite3.connect(os.path.join(root, "dockline.db"))
    for statement in schema._SCHEMA:
        if statement != schema._SETTINGS:
            conn.execute(statement.replace(", env TEXT NOT NULL)", ")"))
    conn.execute(
        "INSERT INTO containers (id, name, net_mode, net_target, command, state, hostname,"
        " privileged, auto_remove, created) VALUES ('c1', 'old', 'none', '', '[\"true\"]',"
        " 'exited', 'h', 0, 0, 1.0)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    os.chmod(os.path.join(root, "dockline.db"), 0o600)
    store = SqliteStore(root)
    with store.transaction() as txn:
        old = txn.get_container("old")
        assert old is not None and old.env == () and old.command == ("true",)
        txn.put_container(old._replace(env=(("A", "1"),)))
        assert txn.get_setting("forwarding") is None
        txn.set_setting("forwarding", "dockline")
    store.close()
    assert raw_rows(root, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(3,)]
    assert raw_rows(root, "SELECT * FROM settings") == [("forwarding", "dockline")]
    assert raw_rows(root, "SELECT env FROM containers") == [('[["A", "1"]]',)]


def test_empty_file_adopted(root: str) -> None:
    """A database file made outside dockline (here: empty) gets the schema in place."""
    os.makedirs(root, mode=0o700)
    Path(root, "dockline.db").touch(mode=0o600)
    store = SqliteStore(root)
    with store.transaction() as txn:
        txn.put_network(make_network())
    store.close()
    assert raw_rows(root, "SELECT name FROM networks") == [("bridge",)]
    assert raw_rows(root, "PRAGMA journal_mode") == [("wal",)]
    assert raw_rows(root, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def _leave_after_writing(root: str, first: int, count: int) -> None:
    """In a forked child, as a CLI process does: an engine that leaves its store to the exit
    commits `count` containers, closes (which leaves, not closes, the store) and exits without
    teardown."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            engine = Engine(Paths(root=root), leave_store_to_exit=True)
            with engine, engine.store.transaction() as txn:
                for i in range(first, first + count):
                    txn.put_container(make_container(f"{i:064x}", f"c{i}", command=("x" * 2000,)))
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_processes_that_leave_keep_the_log_bounded(root: str) -> None:
    """SQLite cannot bound the write-ahead log of processes that exit without closing (each
    first opener rebuilds the log's index from all of it, and never restarts it); `leave`
    truncates it past LOG_TRUNCATE_BYTES, and every commit is still there."""
    SqliteStore(root).close()
    wal = os.path.join(root, "dockline.db-wal")
    sizes = []
    for n in range(60):
        _leave_after_writing(root, 10 * n, 10)
        sizes.append(os.path.getsize(wal) if os.path.exists(wal) else 0)
    assert sum(sizes) > 0 and max(sizes) <= LOG_TRUNCATE_BYTES, sizes
    assert raw_rows(root, "SELECT count(*) FROM containers") == [(600,)]


def test_leave_keeps_the_store_usable(root: str) -> None:
    store = SqliteStore(root)
    wal = os.path.join(root, "dockline.db-wal")
    truncated = 0
    for n in range(40):  # past LOG_TRUNCATE_BYTES: leave checkpoints and truncates
        with store.transaction() as txn:
            txn.put_container(make_container(f"{n:064x}", f"c{n}", command=("x" * 20000,)))
        store.leave()
        truncated += os.path.getsize(wal) == 0
    assert truncated > 0
    with store.transaction() as txn:
        assert len(txn.list_containers()) == 40
    store.close()


def test_no_build_files_left(root: str) -> None:
    SqliteStore(root).close()
    assert os.listdir(root) == ["dockline.db"]


def test_corrupt_file_refused(root: str) -> None:
    os.makedirs(root, mode=0o700)
    Path(root, "dockline.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="is unusable"):
        SqliteStore(root)


# concurrency: separate processes, real SQLite locking

ALLOCATE = textwrap.dedent(
    """
    import sys
    from dockline.addr import IPv4Address, IPv4Network
    from dockline import ipam
    from dockline.store import open_store

    root, net_id, endpoint_id = sys.argv[1:4]
    sys.stdin.read()  # the start gate: every process is released at once
    store = open_store(root)
    with store.transaction() as txn:
        leased = txn.leased_addresses(net_id)
        cursor = txn.get_ipam_cursor(net_id)
        address = ipam.next_free_address(
            IPv4Network("172.17.0.0/16"), ip_range=None, reserved={IPv4Address("172.17.0.1")},
            in_use=leased, after=cursor,
        )
        txn.add_lease(net_id, address, endpoint_id)
        txn.set_ipam_cursor(net_id, address)
    store.close()
    print(address)
    """
)

CREATE = textwrap.dedent(
    """
    import sys
    from dockline.addr import IPv4Address, IPv4Network
    from dockline.model import Network
    from dockline.store import open_store

    root, i = sys.argv[1], int(sys.argv[2])
    sys.stdin.read()
    store = open_store(root)
    with store.transaction() as txn:
        txn.put_network(Network(
            id=f"{i:064x}", name=f"net{i}", driver="bridge", bridge=f"br{i}",
            subnet=IPv4Network(f"10.{i}.0.0/16"), gateway=IPv4Address(f"10.{i}.0.1"),
        ))
    store.close()
    """
)


def run_gated(scripts: list[list[str]], timeout: float = 120.0) -> list[str]:
    """Start every process, then release them together; return their outputs in order.

    The gate is one pipe shared as everybody's stdin: closing its write end gives all of them
    EOF at once, so they race for the store instead of trickling in as they start.
    """
    gate_r, gate_w = os.pipe()
    procs: list[subprocess.Popen[str]] = []
    try:
        for argv in scripts:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", *argv],
                    stdin=gate_r,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        os.close(gate_w)
        gate_w = -1
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err
            outputs.append(out.strip())
        return outputs
    finally:
        os.close(gate_r)
        if gate_w >= 0:
            os.close(gate_w)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_fifty_processes_get_distinct_addresses(with_network: SqliteStore, root: str) -> None:
    outputs = run_gated([[ALLOCATE, root, NET_ID, f"ep{i}"] for i in range(50)])
    got = {IPv4Address(o) for o in outputs}
    assert len(got) == 50
    # Serialised allocation after the cursor hands out exactly .2 .. .51.
    assert got == {IPv4Address(int(IPv4Address("172.17.0.2")) + i) for i in range(50)}
    rows = raw_rows(root, "SELECT address, endpoint_id FROM leases")
    assert len(rows) == 50
    assert {IPv4Address(str(a)) for a, _ in rows} == got
    assert len({e for _, e in rows}) == 50
    assert raw_rows(root, "SELECT address FROM ipam_cursor") == [("172.17.0.51",)]


def test_concurrent_first_open_creates_schema_once(root: str) -> None:
    run_gated([[CREATE, root, str(i)] for i in range(20)])
    assert raw_rows(root, "SELECT count(*) FROM networks") == [(20,)]
    assert raw_rows(root, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_a_host_name_clash_in_the_store_draws_another_name(with_network: SqliteStore) -> None:
    from dockline.driver.bridge import is_host_ifname, record_with_unique_name

    with with_network.transaction() as txn:
        txn.put_endpoint(make_endpoint("e1", "veth0000001"))
        second = record_with_unique_name(txn, make_endpoint("e2", "veth0000001"))
    assert second.host_ifname != "veth0000001" and is_host_ifname(second.host_ifname)
    with with_network.transaction() as txn:
        assert {e.host_ifname for e in txn.list_endpoints()} == {"veth0000001", second.host_ifname}


class LockProbe:
    """An undo step that records whether the store's write lock is still held when it runs
    (another connection's BEGIN IMMEDIATE, without waiting, fails while it is)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: list[str] = []

    def __call__(self) -> None:
        other = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            self.seen.append("free")
        except sqlite3.OperationalError:
            self.seen.append("locked")
        finally:
            other.close()


def test_undo_runs_while_the_lock_is_held(store: SqliteStore) -> None:
    """A failed operation undoes its kernel steps before the store rolls back, so no other
    process can take the lock and build on what is being undone (a bridge, a firewall table);
    a failed commit counts as a failure; a committed one undoes nothing."""
    from dockline.rollback import Rollback

    probe = LockProbe(store.path)
    undo = Rollback()
    undo.push(probe)
    with pytest.raises(RuntimeError), store.transaction(undo):
        raise RuntimeError("a kernel step failed")
    assert probe.seen == ["locked"]
    probe()
    assert probe.seen[-1] == "free"  # released afterwards

    def failing_commit() -> None:
        raise StoreError("commit failed")

    undo = Rollback()
    undo.push(probe)
    store._commit = failing_commit  # type: ignore[method-assign]  # a fault of the disk
    try:
        with pytest.raises(StoreError, match="commit failed"), store.transaction(undo) as txn:
            txn.put_container(Container("c" * 64, "x", NetMode("none", ""), ("true",)))
    finally:
        del store._commit
    assert probe.seen[-1] == "locked"
    with store.transaction() as txn:
        assert txn.get_container("x") is None  # rolled back

    undo = Rollback()
    undo.push(probe)
    with store.transaction(undo):
        pass
    assert len(probe.seen) == 3  # committed: the step did not run
