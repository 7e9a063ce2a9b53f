"""dockline's exceptions and exit codes.

A leaf module: it imports nothing else from the package, so every layer can raise these. Only the
entry points (CLI, later CNI and the OCI hook) turn them into exit codes or messages; the message
of each is one line that names the bad value and says why.
"""

from __future__ import annotations

import errno as _errno
import os


class ExitStatus:
    """Process exit codes, following Docker's CLI. Plain ints: `enum` costs ~4 ms of start-up."""

    OK = 0
    ERROR = 1  # a command failed (Docker: `docker inspect nosuch` exits 1)
    DOCKLINE = 125  # dockline itself failed (bad flags, or `run` could not start the container)
    CANNOT_INVOKE = 126  # the container command exists but cannot be executed
    NOT_FOUND = 127  # the container command was not found


class DocklineError(Exception):
    """Base of every error dockline raises on purpose; its str() is the one-line message."""

    exit_status: int = ExitStatus.ERROR


class InvalidArgument(DocklineError):
    """Bad input from the user: a malformed value, or one that does not fit (IP outside subnet)."""

    exit_status = ExitStatus.DOCKLINE

    def __init__(self, what: str, value: object, why: str) -> None:
        super().__init__(f"invalid {what} {value!s}: {why}")
        self.what = what
        self.value = value


class NotFound(DocklineError):
    """A named thing (container, network, pid, link) does not exist."""

    def __init__(self, kind: str, name: object) -> None:
        super().__init__(f"no such {kind}: {name}")
        self.kind = kind
        self.name = name


class Conflict(DocklineError):
    """The request clashes with existing state (name taken, IP in use, container not running)."""


class PoolExhausted(Conflict):
    """No free address is left in a network's pool."""


class KernelError(DocklineError):
    """A kernel operation failed; keeps the errno so callers can treat ENOENT/EEXIST specially."""

    def __init__(self, op: str, target: str, errno: int) -> None:
        super().__init__(f"{op} {target}: {os.strerror(errno)}")
        self.op = op
        self.target = target
        self.errno = errno

    @property
    def is_missing(self) -> bool:
        """True when the error only says the object is already gone."""
        return self.errno in (_errno.ENODEV, _errno.ENOENT, _errno.ESRCH, _errno.EADDRNOTAVAIL)


class StoreError(DocklineError):
    """The state store is unusable (unsafe permissions, symlinked directory, corrupt file)."""


class ConfigError(DocklineError):
    """The daemon-style config file is malformed or names impossible settings."""

    exit_status = ExitStatus.DOCKLINE


class TeardownError(DocklineError):
    """Some steps of a teardown failed; the rest were still done. Carries every failure."""

    def __init__(self, what: str, failures: list[BaseException]) -> None:
        details = "; ".join(str(f) for f in failures)
        super().__init__(f"{what}: {len(failures)} step(s) failed: {details}")
        self.failures = failures


class CommandError(DocklineError):
    """The container's command could not be started (126: not executable, 127: not found)."""

    def __init__(self, command: str, why: str, exit_status: int) -> None:
        super().__init__(f"cannot run {command}: {why}")
        self.exit_status = exit_status
