"""The monitor's waiting half: what a `run -d` monitor becomes while its container runs.

A monitor forked from the CLI (or from an API caller) holds that process's whole heap, its
imports and the store's connection, ~6 MiB of private memory per running container, for nothing:
it only waits. Once the container runs, the monitor execs this file as a script under
`python -I -S`, which imports nothing beyond the interpreter's built-in modules (~2.5 MiB). exec
keeps the pid, so the container is still our child (`waitpid` works), and the record's monitor
pid and start time still name this process. When the container exits, the teardown
(`monitor.teardown_main`) is imported and run here, in the same process.

This file imports only modules built into the interpreter (`posix`, `_signal`): run as a script,
the `dockline` package is not on `sys.path` until the teardown puts it there, and every module
imported here is memory held for the container's whole life. `supervise` imports
`forward_signals` and `reap` from here: the monitor and the foreground `run` share them.

Usage (by the monitor only): waiter.py PID CONTAINER_ID ROOT RUN_ROOT CONFIG NETNS_DIR.
The signals to forward arrive blocked (the monitor blocks them before its exec, and a blocked
signal stays pending across exec), so none sent to the monitor in between is lost.
"""

from __future__ import annotations

import posix as os  # `os` itself imports ~250 KiB of modules at start-up that we never use
import sys

TYPE_CHECKING = False  # `typing` and `dockline.records` are not for here (see above)
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal  # `signal` wraps it in enums: `enum` alone is ~0.8 MiB

FORWARDED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)
NO_SUCH_CHILD = 125  # ExitStatus.DOCKLINE (dockline.errors is not importable from here)


def reap(pid: int) -> int:
    """Wait for child `pid`; its exit status, Docker's way: its code, or 128 + the signal."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return NO_SUCH_CHILD
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def forward_signals(pid: int) -> dict[int, object]:
    """Pass the signals we get on to `pid`, as `docker run` does; the previous handlers."""

    def forward(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib would import functools and collections here
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    return {int(s): signal.signal(s, forward) for s in FORWARDED_SIGNALS}


def main(argv: list[str]) -> None:
    """Wait for the container, then tear it down; never returns."""
    os.closerange(3, 1 << 20)  # whatever the monitor's caller left open is not ours to hold
    pid, teardown_args = int(argv[0]), argv[1:]
    forward_signals(pid)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    status = reap(pid)
    # The pid may be reused from now on: forward nothing more, and let nothing but SIGKILL
    # interrupt the teardown.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    import posixpath  # only now: the teardown imports much more anyway

    here = posixpath.abspath(__file__)  # .../dockline/runtime/waiter.py
    sys.path.insert(0, posixpath.dirname(posixpath.dirname(posixpath.dirname(here))))
    from dockline.runtime.monitor import teardown_main

    teardown_main(teardown_args, status)


if __name__ == "__main__":
    main(sys.argv[1:])
