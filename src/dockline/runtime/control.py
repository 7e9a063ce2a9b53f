"""Acting on running containers from outside: stop, remove, exec.

Processes are tracked by pid plus start time, and waited for through pidfds (no polling, no
sleeps): a pidfd becomes readable when its process exits, whoever its parent is.
"""

from __future__ import annotations

import os
import select
import signal

from dockline import linux
from dockline.engine import Engine
from dockline.errors import CommandError, Conflict, ExitStatus, NotFound
from dockline.model import Container
from dockline.records import TYPE_CHECKING
from dockline.runtime.init import (
    close_other_fds,
    describe_failure,
    exec_command,
    exit_status_for_exec_errno,
)
from dockline.runtime.spec import environment
from dockline.runtime.state import is_running, process_alive
from dockline.runtime.supervise import (
    release_network,
    remove_log,
    restore_signals,
    settle_exited,
)
from dockline.runtime.waiter import forward_signals, reap

if TYPE_CHECKING:
    from dockline.store.base import Txn

MONITOR_GRACE = 10.0
NAMESPACES = (
    ("ipc", linux.CLONE_NEWIPC),
    ("uts", linux.CLONE_NEWUTS),
    ("net", linux.CLONE_NEWNET),
    ("mnt", linux.CLONE_NEWNS),
)


def lookup(txn: Txn, name: str) -> Container:
    container = txn.get_container(name)
    if container is None:
        raise NotFound("container", name)
    return container


def get(engine: Engine, name: str) -> Container:
    with engine.store.transaction() as txn:
        return lookup(txn, name)


def open_pidfd(pid: int | None, start: int | None) -> int | None:
    """A pidfd for exactly the recorded process, or None if it is gone."""
    if pid is None:
        return None
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if linux.proc_start_time(pid) != start:
        os.close(fd)
        return None
    return fd


def wait_pidfd(fd: int, timeout: float) -> bool:
    """True if the process exited within `timeout` seconds (a negative one: no limit)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout < 0 else int(timeout * 1000)))


def stop(engine: Engine, name: str, *, timeout: float = 10.0) -> Container:
    """SIGTERM, then SIGKILL after `timeout` seconds (never, if negative: as Docker's and
    podman's `stop -t -1`), then wait for the network to be torn down."""
    container = get(engine, name)
    if is_running(container):
        _terminate(container, timeout)
    return _await_cleanup(engine, container)


def kill(engine: Engine, name: str, sig: int = signal.SIGKILL) -> Container:
    container = get(engine, name)
    if not is_running(container):
        raise Conflict(f"container {container.name} is not running")
    assert container.pid is not None
    os.kill(container.pid, sig)
    return container


def _terminate(container: Container, timeout: float) -> None:
    fd = open_pidfd(container.pid, container.pid_start)
    if fd is None:
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        if not wait_pidfd(fd, timeout):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            wait_pidfd(fd, MONITOR_GRACE)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


def _await_cleanup(engine: Engine, container: Container) -> Container:
    """Let the monitor finish its teardown; if it is dead, do the teardown here."""
    fd = open_pidfd(container.monitor_pid, container.monitor_start)
    if fd is not None:
        try:
            wait_pidfd(fd, MONITOR_GRACE)
        finally:
            os.close(fd)
    with engine.store.transaction() as txn:
        current = txn.get_container(container.id)
        if current is None:  # --rm: the monitor removed it
            return container._replace(state="exited")
        if current.state == "running" and not is_running(current):
            # The monitor died too: its last signal was ours, SIGKILL unless TERM sufficed.
            settle_exited(engine, txn, current, 128 + signal.SIGKILL)
            current = txn.get_container(container.id)
        return current or container._replace(state="exited")


def remove(engine: Engine, name: str, *, force: bool = False) -> Container:
    """`rm`: a running container only with force (SIGKILL first); everything of it goes."""
    container = get(engine, name)
    if is_running(container):
        if not force:
            raise Conflict(
                f"cannot remove running container {container.name}: stop it first or use -f"
            )
        _terminate(container, 0)
    container = _await_cleanup(engine, container)
    with engine.store.transaction() as txn:
        current = txn.get_container(container.id)
        if current is not None:
            release_network(engine, txn, current)
            txn.delete_container(current.id)
    remove_log(engine.paths, container.id)
    return container


def exec_in(engine: Engine, name: str, command: list[str]) -> int:
    """Run a command in a running container's namespaces, with the container's capabilities."""
    if not command:
        raise Conflict("exec needs a command")
    container = get(engine, name)
    if not is_running(container) or container.pid is None:
        raise Conflict(f"container {container.name} is not running")
    fds = open_namespaces(container.pid, ("ipc", "uts", "net", "mnt", "pid"))
    err_r, err_w = os.pipe()
    try:
        if not process_alive(container.pid, container.pid_start):
            raise Conflict(f"container {container.name} is not running")
        pid = linux.fork_in_pid_namespace(fds["pid"])
        if pid == 0:  # pragma: no cover - the child never returns
            _exec_child(container, command, fds, err_w)
    except BaseException:
        os.close(err_r)
        raise
    finally:
        os.close(err_w)
        for fd in fds.values():
            os.close(fd)
    previous = forward_signals(pid)
    try:
        failure = os.read(err_r, 4096).decode(errors="replace")
        os.close(err_r)
        status = reap(pid)
    finally:
        restore_signals(previous)
    if failure:
        code_text, _, message = failure.partition(":")
        exit_status = (
            exit_status_for_exec_errno(int(code_text))
            if code_text.isdigit()
            else ExitStatus.DOCKLINE
        )
        raise CommandError(command[0], message, exit_status)
    return status


def open_namespaces(pid: int, kinds: tuple[str, ...]) -> dict[str, int]:
    """The namespaces of process `pid`, by kind, open (close-on-exec); all or none."""
    fds: dict[str, int] = {}
    try:
        for kind in kinds:
            fds[kind] = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        for fd in fds.values():
            os.close(fd)
        if isinstance(err, FileNotFoundError):
            raise Conflict(f"process {pid} is gone") from None
        raise
    return fds


def _exec_child(container: Container, command: list[str], fds: dict[str, int], err_w: int) -> None:
    """In the forked child: the container's namespaces, its capabilities, the command.

    Everything it imports is imported before it enters the container's mount namespace: the
    container's root (`--rootfs`) has no Python library. (`ctypes` is what dropping capabilities
    loads; `exec_command` imports nothing.)
    """
    try:
        import ctypes  # noqa: F401 - loaded now, used by linux.drop_capabilities

        for ns, flag in NAMESPACES:
            linux.setns(fds[ns], flag)
        os.chdir("/")
        if not container.privileged:
            linux.drop_capabilities(linux.DEFAULT_CAPABILITIES)
        close_other_fds(keep=err_w)
        exec_command(command, environment(container.hostname, container.env))
    except BaseException as err:
        code = getattr(err, "errno", None) or 0
        os.write(err_w, f"{code}:{describe_failure(err)}".encode(errors="replace"))
    os._exit(ExitStatus.DOCKLINE)
