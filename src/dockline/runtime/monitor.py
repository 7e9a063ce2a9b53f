"""`run -d`: a small monitor process that supervises one container after the caller has gone.

The caller double-forks, so the monitor is adopted by init and never left a zombie of a
long-lived caller (a test runner, a Python program using the API). The monitor reports over a
pipe whether the container started (or why not), then waits for it and tears its network down.
Once the container runs, the monitor execs `waiter.py`, a minimal interpreter that holds none of
the caller's memory, and that runs the teardown (`teardown_main`) when the container exits.
Its output, and the container's, go to a log file under the run root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

from dockline.config import BridgeConfig, Paths
from dockline.errors import DocklineError, ExitStatus
from dockline.model import Container
from dockline.records import TYPE_CHECKING
from dockline.runtime import waiter
from dockline.runtime.spec import ContainerSpec
from dockline.runtime.state import log_path

if TYPE_CHECKING:
    from typing import NoReturn

    from dockline.engine import Engine


def run_detached(paths: Paths, spec: ContainerSpec, bridge_config: BridgeConfig | None) -> None:
    """Start the container under a new monitor; return once it runs, or raise why it did not."""
    read_end, write_end = os.pipe()
    log = open_log(paths, spec.id)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked intermediate and monitor
        os.close(read_end)
        try:
            if os.fork() == 0:
                monitor_main(paths, spec, bridge_config, write_end, log)
        finally:
            os._exit(0)
    os.close(write_end)
    os.close(log)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as f:
        report = f.read()
    raise_if_failed(report)


def open_log(paths: Paths, container_id: str) -> int:
    from dockline.store.sqlite import ensure_private_dir

    path = log_path(paths, container_id)
    ensure_private_dir(paths.run_root, "runtime directory")  # 0700, never through a symlink
    ensure_private_dir(os.path.dirname(path), "runtime directory")
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


KNOWN_STATUSES = frozenset(
    {ExitStatus.ERROR, ExitStatus.DOCKLINE, ExitStatus.CANNOT_INVOKE, ExitStatus.NOT_FOUND}
)


def raise_if_failed(report: bytes) -> None:
    if report == b"ok":
        return
    try:
        parsed = json.loads(report)
        message, status = str(parsed["error"]), int(parsed["status"])
    except (ValueError, KeyError, TypeError):
        message, status = "the container monitor died before the container started", 125
    err = DocklineError(message)
    err.exit_status = status if status in KNOWN_STATUSES else ExitStatus.DOCKLINE
    raise err


def monitor_main(
    paths: Paths, spec: ContainerSpec, bridge_config: BridgeConfig | None, report: int, log: int
) -> NoReturn:
    """The monitor's whole life; never returns."""
    from dockline.engine import Engine
    from dockline.runtime.supervise import supervise

    os.setsid()
    redirect_stdio(log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reported = False

    def started(container: Container) -> None:
        nonlocal reported
        reported = True
        send_report(report, b"ok")
        become_waiter(paths, container)  # returns only if the exec failed: we wait here

    code = 0
    try:
        with Engine(paths, bridge_config=bridge_config) as engine:
            try:
                supervise(engine, spec, on_started=started)
            except BaseException:
                if not reported:  # this failure, not one of the clean-up, is what to report
                    with contextlib.suppress(DocklineError, OSError):
                        remove_unrecorded_log(engine, spec.id)
                raise
    except DocklineError as err:
        code = err.exit_status
        if not reported:
            send_report(report, json.dumps({"error": str(err), "status": code}).encode())
        log_line(str(err))
    except BaseException as err:
        code = ExitStatus.DOCKLINE
        if not reported:
            send_report(report, json.dumps({"error": repr(err), "status": code}).encode())
    os._exit(code)


def send_report(report: int, message: bytes) -> None:
    """Tell the caller how the start went. A caller that is gone (killed, interrupted) cannot
    hear it, and a started container still needs its monitor: that is no error here."""
    try:
        os.write(report, message)
    except OSError:
        pass
    finally:
        os.close(report)


def remove_unrecorded_log(engine: Engine, container_id: str) -> None:
    """A container that failed to start and has no record (it was rolled back, or was --rm)
    leaves no log either; one that stays listed as exited keeps its log, as in Docker."""
    from dockline.runtime.supervise import remove_log

    with engine.store.transaction() as txn:
        if txn.get_container(container_id) is None:
            remove_log(engine.paths, container_id)


def become_waiter(paths: Paths, container: Container) -> None:
    """Exec `waiter.py` for the rest of the container's life (~6 MiB less per running container).

    The forwarded signals are blocked across the exec, so none is lost before the waiter has its
    handlers. If the exec fails they are unblocked and the caller waits in this process instead.
    """
    script = os.path.abspath(waiter.__file__)
    argv = [sys.executable, "-I", "-S", script, str(container.pid), container.id]
    argv += [paths.root, paths.run_root, paths.config, paths.netns_dir]
    signal.pthread_sigmask(signal.SIG_BLOCK, waiter.FORWARDED_SIGNALS)
    try:
        os.execv(sys.executable, argv)
    except OSError as err:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waiter.FORWARDED_SIGNALS)
        log_line(f"cannot exec {script}: {err}; waiting in this process")


def teardown_main(args: list[str], status: int) -> NoReturn:
    """The waiter's end: the container exited with `status`; its network goes, its record is
    updated (or removed, with --rm). Never returns."""
    from dockline.engine import Engine
    from dockline.runtime.supervise import finish

    container_id, root, run_root, config, netns_dir = args
    paths = Paths(root=root, run_root=run_root, config=config, netns_dir=netns_dir)
    code = 0
    try:
        with Engine(paths) as engine:
            finish(engine, container_id, status)
    except DocklineError as err:
        code = err.exit_status
        log_line(str(err))
    except BaseException as err:
        code = ExitStatus.DOCKLINE
        log_line(f"teardown failed: {err!r}")
    os._exit(code)


def log_line(message: str) -> None:
    """One line to the container's log, by fd: a monitor forked from an API caller inherits
    its `sys.stderr`, which may be anything (pytest's capture, a logger), not the log on fd 2."""
    os.write(2, f"dockline monitor: {message}\n".encode(errors="replace"))


def redirect_stdio(log: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
