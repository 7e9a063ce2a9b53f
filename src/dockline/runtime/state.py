"""Facts about a recorded container that depend on the live system: is it still running?

A pid alone proves nothing (pids are reused); a pid with its process start time does.
"""

from __future__ import annotations

import os

from dockline import linux
from dockline.config import Paths
from dockline.model import Container

SANDBOX_PREFIX = "dockline-"


def process_alive(pid: int | None, start: int | None) -> bool:
    """The very process recorded (same pid and start time) still exists."""
    return pid is not None and start is not None and linux.proc_start_time(pid) == start


def is_running(container: Container) -> bool:
    return container.state == "running" and process_alive(container.pid, container.pid_start)


def status_word(container: Container, running: bool) -> str:
    """Docker's `State.Status` (and `ps`'s State): running, created or exited; `running` is
    `is_running(container)`, which the caller usually needs as well."""
    if running:
        return "running"
    return "created" if container.state == "created" else "exited"


def monitor_alive(container: Container) -> bool:
    return process_alive(container.monitor_pid, container.monitor_start)


def sandbox_link_name(container_id: str) -> str:
    """The container's namespace as `ip netns` sees it: dockline-<short id>."""
    return SANDBOX_PREFIX + container_id[:12]


def log_path(paths: Paths, container_id: str) -> str:
    """Where a detached container's output goes."""
    return os.path.join(paths.run_root, "containers", f"{container_id}.log")
