"""The supervisor: starts one container, waits for it, and tears its network down when it exits.

One supervisor process per container: it forks the container as pid 1 of a new pid namespace
and stays in its own (`linux.fork_in_pid_namespace`), so it can still fork afterwards (the
firewall's `nft`, when an undo restores the ruleset after the container is gone). Foreground
`run` is the supervisor itself; `run -d` (and the Python API) double-forks one as a small
monitor that outlives the caller.

Start is one store transaction with an undo stack: record, namespaces, network, then "go"; any
failure kills the paused child and undoes the rest. The container is recorded with its pid and
the process start time, and with the supervisor's, so `gc` can tell a crashed one from a live one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from dockline import linux, netns
from dockline.config import Paths
from dockline.engine import Engine
from dockline.errors import CommandError, Conflict, DocklineError, ExitStatus, NotFound
from dockline.model import Container, NetMode
from dockline.netlink import Netlink, set_link_up
from dockline.networks import get_network
from dockline.records import TYPE_CHECKING, Record
from dockline.rollback import Rollback
from dockline.runtime.init import GO, READY, ChildPipes, child_main, exit_status_for_exec_errno
from dockline.runtime.spec import ContainerSpec, random_name
from dockline.runtime.state import is_running, log_path, sandbox_link_name
from dockline.runtime.waiter import forward_signals, reap

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockline.store.base import Txn


class Child(Record):
    """The paused container process, and our ends of its pipes."""

    pid: int
    go_w: int
    err_r: int


def supervise(
    engine: Engine, spec: ContainerSpec, *, on_started: Callable[[Container], None] | None = None
) -> int:
    """Run the container to its end; returns its exit status (Docker's: 128+N for signal N).

    Signals are forwarded from before "go", so none sent once the command runs is lost.
    `on_started` may exec and never return: the `-d` monitor becomes its waiter that way
    (`monitor.become_waiter`), which then reaps the child and runs `finish` itself.
    """
    container, child = prepare(engine, spec)
    previous = forward_signals(child.pid)
    try:
        release(child, engine, container)
        if on_started is not None:
            on_started(container)
        status = reap(child.pid)
    finally:
        restore_signals(previous)
    finish(engine, container.id, status)
    return status


def prepare(engine: Engine, spec: ContainerSpec) -> tuple[Container, Child]:
    """Record, namespaces, network; all or nothing. The child then waits for `release`."""
    undo = Rollback()
    with engine.store.transaction(undo) as txn:
        container = record_with_free_name(txn, new_record(spec), spec)
        join_fd = None
        if spec.net_mode.kind == "container":
            join_fd, joined = open_joined_netns(txn, spec)
            container = container._replace(net_mode=NetMode("container", joined.id))
        if spec.net_mode.kind == "bridge":
            network, new = get_network(txn, engine.host, spec.net_mode.target, undo)
            engine.ready_bridge(txn, undo, network, new=new)
        child = spawn_paused(spec, join_fd)
        undo.push(kill_and_reap, child)
        container = configure_network(
            engine, txn, undo, spec=spec, container=container, pid=child.pid
        )
        txn.put_container(container)
    return container, child


NAME_ATTEMPTS = 6


def record_with_free_name(txn: Txn, container: Container, spec: ContainerSpec) -> Container:
    """Record the container; a generated name that is taken is drawn again (a name the user
    gave is a Conflict)."""
    for retry in range(1, NAME_ATTEMPTS):
        try:
            txn.put_container(container)
            return container
        except Conflict:
            if not spec.name_generated:
                raise
            container = container._replace(name=random_name(retry))
    txn.put_container(container)  # the last draw: its Conflict is the answer
    return container


def new_record(spec: ContainerSpec) -> Container:
    me = os.getpid()
    return Container(
        id=spec.id,
        name=spec.name,
        net_mode=spec.net_mode,
        command=spec.command,
        state="created",
        monitor_pid=me,
        monitor_start=linux.proc_start_time(me),
        hostname=spec.hostname,
        env=spec.env,
        rootfs=spec.rootfs,
        privileged=spec.privileged,
        auto_remove=spec.auto_remove,
        created=time.time(),
        requested_ip=spec.ip,
        requested_mac=spec.mac,
    )


def open_joined_netns(txn: Txn, spec: ContainerSpec) -> tuple[int, Container]:
    """`--net=container:X`: the network namespace of running container X, and X."""
    target = txn.get_container(spec.net_mode.target)
    if target is None:
        raise NotFound("container", spec.net_mode.target)
    if not is_running(target) or target.pid is None:
        raise Conflict(f"cannot join the network of container {target.name}: it is not running")
    return netns.open_netns(f"/proc/{target.pid}/ns/net"), target


def spawn_paused(spec: ContainerSpec, join_fd: int | None) -> Child:
    """Fork the container, pid 1 of a new pid namespace; return once its namespaces exist (it
    waits for "go")."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = linux.fork_in_pid_namespace()
    if pid == 0:  # pragma: no cover - the child never returns here
        for fd in (ready_r, go_w, err_r):
            os.close(fd)
        child_main(spec, ChildPipes(ready_w, go_r, err_w), join_fd)
    for fd in (ready_w, go_r, err_w) + ((join_fd,) if join_fd is not None else ()):
        os.close(fd)
    ready = os.read(ready_r, 1)
    os.close(ready_r)
    child = Child(pid, go_w, err_r)
    if ready != READY:
        reason = read_failure(child)
        reap(pid)
        raise DocklineError(f"container setup failed: {reason}")
    return child


def configure_network(
    engine: Engine, txn: Txn, undo: Rollback, *, spec: ContainerSpec, container: Container, pid: int
) -> Container:
    """The net mode's part: bridge attaches an endpoint, none only brings `lo` up."""
    ref, fd = netns.open_pid_netns(pid)
    try:
        sandbox = None
        if spec.net_mode.kind in ("bridge", "none"):
            name = sandbox_link_name(spec.id)
            sandbox = os.path.join(engine.paths.netns_dir, name)
            netns.link_netns(engine.paths.netns_dir, name, pid, undo=undo, owner=engine.paths.root)
        if spec.net_mode.kind == "bridge":
            engine.attach(
                txn,
                undo,
                spec.net_mode.target,
                ref,
                fd,
                ip=spec.ip,
                mac=spec.mac,
                container_id=spec.id,
            )
        elif spec.net_mode.kind == "none":
            with Netlink.open(fd) as inner:
                set_link_up(inner, 1)  # lo is always ifindex 1 in a new namespace
    finally:
        os.close(fd)
    return container._replace(
        state="running",
        pid=pid,
        pid_start=ref.pid_start,
        started=time.time(),
        sandbox_key=sandbox,
    )


def release(child: Child, engine: Engine, container: Container) -> None:
    """Say "go"; if exec fails, clean up and raise with Docker's 126/127."""
    os.write(child.go_w, GO)
    os.close(child.go_w)
    failure = read_failure(child)
    if not failure:
        return
    stage, _, rest = failure.partition(":")
    code_text, _, message = rest.partition(":")
    status = ExitStatus.DOCKLINE
    if stage == "exec" and code_text.isdigit():
        status = exit_status_for_exec_errno(int(code_text))
    reap(child.pid)
    finish(engine, container.id, int(status))
    raise CommandError(container.command[0], message or failure, status)


def read_failure(child: Child) -> str:
    chunks = []
    while chunk := os.read(child.err_r, 4096):
        chunks.append(chunk)
    os.close(child.err_r)
    return b"".join(chunks).decode(errors="replace")


def kill_and_reap(child: Child) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    reap(child.pid)


def restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def finish(engine: Engine, container_id: str, status: int) -> None:
    """After the container exits: its network, sandbox link and (with --rm) record go."""
    with engine.store.transaction() as txn:
        container = txn.get_container(container_id)
        if container is not None:
            settle_exited(engine, txn, container, status)


def settle_exited(
    engine: Engine, txn: Txn, container: Container, status: int
) -> list[BaseException]:
    """Record an exited container: network released; with --rm, record and log removed."""
    failures = release_network(engine, txn, container)
    if container.auto_remove:
        txn.delete_container(container.id)
        remove_log(engine.paths, container.id)
    else:
        txn.put_container(
            container._replace(state="exited", exit_code=status, finished=time.time())
        )
    return failures


def release_network(engine: Engine, txn: Txn, container: Container) -> list[BaseException]:
    """Detach a stopped container's endpoints and remove its sandbox link.

    The namespace dies with its last process and takes the veth pair with it, so the veth is
    deleted here (20 ms of kernel time) only if a `container:` joiner keeps the namespace alive.
    """
    endpoints = txn.list_endpoints(container_id=container.id)
    joined = [
        c for c in txn.containers_joined_to(container.id) if c.id != container.id and is_running(c)
    ]
    failures = engine.detach(txn, endpoints, delete_veths=bool(joined))
    if container.sandbox_key:
        netns.unlink_netns(container.sandbox_key)
    return failures


def remove_log(paths: Paths, container_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(log_path(paths, container_id))
