"""Throwaway worlds for the benchmarks, and timing of what runs in them.

A `Lab` owns everything a run makes: "host" namespaces (`ip netns add dlbench-...`), container
namespaces (dockline's `create_netns`), holder processes (`unshare --net`), daemons, a temporary
directory and the mounts under it. `close()` removes all of it in reverse order, going on past
errors, and `leftovers()` is the independent check that nothing named `dlbench-` survived.

A run that is stopped still cleans up: `stop_on_signals()` turns SIGTERM and SIGHUP into
SystemExit (SIGINT is KeyboardInterrupt already), so the lab unwinds, and a signal that arrives
while it unwinds waits until it is done. A run killed outright (SIGKILL) cannot; its holders die
with it (parent-death signal), and the next run's `sweep_stale()` removes the rest: each lab's
directory names the process that made it, and a lab whose process is gone is swept, as is any
`dlbench-<tag>-*` namespace whose run has no directory left. Each thing is recorded for the
clean-up before it is made (or made with signals held), so a stop cannot fall in between.

Nothing here touches the machine's own namespace: every link, route and rule is made inside a
namespace the lab created.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockline import linux, netns
from dockline.errors import KernelError

PREFIX = "dlbench-"
HOLDER = "holder"  # argv[0] of holder processes is `dlbench-<tag>-holder`
HOLDERS_FILE = "holders"  # in a lab's directory: the pid of each holder, a line each
OWNER_FILE = "owner"  # in a lab's directory: "<pid> <start time>" of the process that made it
SWEEP_FILE = "sweep-commands"  # in a lab's directory: JSON lines {"netns": ..., "argv": [...]}
SWEEP_COMMAND_TIMEOUT_S = 60.0
STALE_AFTER_S = 60.0  # a lab directory with no owner file yet is young, not stale, before this
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin: dockline's console scripts live there
NETNS_DIR = "/run/netns"
CGROUP_ROOT = "/sys/fs/cgroup"  # v1 hierarchies (and `unified`) here, or v2 itself


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.005)


@dataclass(frozen=True)
class Spawned:
    """One process run to its end: wall time, status and output."""

    seconds: float
    status: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Spawned:
        if self.status != 0:
            raise RuntimeError(f"{what} exited {self.status}: {self.stderr.strip()[-400:]}")
        return self


def _memfd(data: bytes = b"") -> int:
    fd = os.memfd_create("dlbench", os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(fd, "rb") as f:
        return f.read().decode(errors="replace")


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: bytes = b""
) -> Spawned:
    """Run `argv` to its end in the calling thread's namespaces, timing only the process
    (start to reaped); input and output go through memfds prepared outside the timed region."""
    fd_in, fd_out, fd_err = _memfd(stdin), _memfd(), _memfd()
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=fd_in, stdout=fd_out, stderr=fd_err, env=env)
        try:
            _, status = os.waitpid(proc.pid, 0)
        except BaseException:  # a run stopped meanwhile: no orphan may outlive the clean-up
            proc.kill()  # (a `connect --pid` finishing late would link a holder the lab unlinked)
            proc.wait()
            raise
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        os.close(fd_in)
    return Spawned(seconds, proc.returncode, _read_all(fd_out), _read_all(fd_err))


def bench_env(**extra: str) -> dict[str, str]:
    """The environment for the processes we time: bytecode may be read *and* written, so a
    Python CLI is measured as it runs on a normal machine (PYTHONDONTWRITEBYTECODE unset)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def compile_bytecode() -> None:
    """Compile dockline's modules once, so no timed CLI start pays for compiling them."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True, env=bench_env()
    )


@dataclass(frozen=True)
class Host:
    """A throwaway namespace playing a container host; `fd` is open until the lab closes."""

    name: str
    fd: int

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    def entered(self) -> contextlib.AbstractContextManager[None]:
        """Run a block (and the processes it starts) inside this host."""
        return netns.entered(self.fd)

    def ip(self, *args: str, stdin: bytes = b"") -> str:
        """`ip -n HOST ARGS`, checked; returns its output."""
        argv = ["ip", "-n", self.name, *args]
        return spawn(argv, stdin=stdin).check(" ".join(argv)).stdout


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[None]:
    """Run a block (and the processes it starts) in the namespace at `path`."""
    fd = netns.open_netns(path)
    try:
        with netns.entered(fd):
            yield
    finally:
        os.close(fd)


# Directories that podman, runc and dockerd create under /run whatever their flags say; a run
# removes the ones that did not exist before it.
STRAY_DIRS = ("/run/containers", "/run/runc", "/run/crun", "/run/docker", "/run/containerd")


class Lab:
    """Everything one benchmark run creates, removed by `close()` even after a failure."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.tag}-"))
        (self.tmp / OWNER_FILE).write_text(_owner_mark(os.getpid()) or "")
        self._undo: list[tuple[str, Callable[[], object]]] = []
        self._count = 0
        absent = [d for d in STRAY_DIRS if not os.path.lexists(d)]
        self.defer("remove stray runtime dirs", lambda: _remove_dirs(absent))

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def name(self, label: str) -> str:
        """A fresh `dlbench-<tag>-<label><n>` name, short enough for an interface too."""
        self._count += 1
        return f"{PREFIX}{self.tag}-{label}{self._count}"

    def dir(self, label: str) -> Path:
        path = self.tmp / f"{label}{self._count}"
        self._count += 1
        path.mkdir(parents=True)
        return path

    def defer(self, what: str, fn: Callable[[], object]) -> None:
        """Run `fn` at close, before everything registered earlier."""
        self._undo.append((what, fn))

    def on_sweep(self, host: Host, argv: Sequence[str]) -> None:
        """Have a sweep of this lab, should the run be killed outright, run `argv` in `host`
        first: an engine's own clean-up (`podman rm -af`), which alone knows the network
        namespaces and cgroups it made outside the lab."""
        line = json.dumps({"netns": host.name, "argv": list(argv)})
        with open(self.tmp / SWEEP_FILE, "a") as f:
            f.write(line + "\n")

    def cgroup_parent(self, label: str) -> str:
        """A cgroup parent of the lab's own (`/dlbench-<tag>-<label><n>`) for an engine's
        containers, removed at close once they are gone, and by a sweep after a kill: under
        the engines' default parents (`/docker`, `/libpod_parent`) their cgroups would outlive
        a run whose engine died with it, and the parents every run."""
        parent = f"/{self.name(label)}"
        self.defer(f"remove cgroup {parent}", lambda: remove_cgroups(parent[1:]))
        return parent

    def host(self, label: str = "host") -> Host:
        """A new host namespace with `lo` up, as a real host has."""
        name = self.name(label)
        self.defer(f"delete {name}", lambda: _ip_netns_del(name))
        # Signals held while `ip` makes it: a stop raised between its start and the wait for
        # it would leave it to finish after the clean-up had deleted the namespace.
        with _signals_deferred():
            subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        fd = os.open(f"{NETNS_DIR}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        self.defer(f"close {name}", lambda: os.close(fd))
        return Host(name, fd)

    def netns(self, count: int, label: str = "c") -> list[str]:
        """`count` container namespaces (paths under /run/netns), made with dockline's
        `create_netns` (a bind mount each, ~0.1 ms)."""
        made: list[str] = []
        self.defer(f"delete {label} namespaces", lambda: _delete_all(made))
        for _ in range(count):
            path = f"{NETNS_DIR}/{self.name(label)}"
            made.append(path)  # recorded first: deleting one never made is no error
            netns.create_netns(path)
        return made

    def holders(self, count: int) -> list[int]:
        """`count` processes, each alone in a new network namespace (`unshare --net`), for
        the `--pid` paths. Returns their pids once every one has its own namespace."""
        procs: list[subprocess.Popen[bytes]] = []
        self.defer("stop holders", lambda: _stop_all(procs))
        script = f"exec -a {PREFIX}{self.tag}-{HOLDER} sleep 3600"
        # Killed with us if we are killed outright: the parent-death signal survives the execs.
        argv = ["unshare", "--net", "--", "setpriv", "--pdeathsig", "KILL", "bash", "-c", script]
        # Each started and recorded as one step (a stop in between would leave it running).
        with open(self.tmp / HOLDERS_FILE, "a") as pids, _signals_deferred():
            for _ in range(count):
                procs.append(subprocess.Popen(argv))
                pids.write(f"{procs[-1].pid}\n")  # for the sweep: their --pid links
        wait_until(lambda: all(_is_holder(p.pid) for p in procs), 30, "holder processes")
        return [p.pid for p in procs]

    def daemon(
        self,
        argv: Sequence[str],
        *,
        stop: Callable[[], object] | None = None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """A long-running process, stopped at close (`stop`, then SIGTERM, then SIGKILL)."""
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed at close
        if log:
            self.defer("close log", out.close)  # type: ignore[union-attr]
        with _signals_deferred():  # started and recorded as one step
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
            self.defer(f"stop {argv[0]}", lambda: _stop_all([proc], stop))
        return proc

    @contextlib.contextmanager
    def section(self) -> Iterator[None]:
        """Undo what the block made when it ends, so one section's namespaces and links do not
        weigh on the next section's measurements."""
        mark = len(self._undo)
        try:
            yield
        finally:
            self._unwind(mark)

    def close(self) -> None:
        """Undo everything, newest first, going on past errors; then unmount and remove tmp."""
        self._unwind(0)
        unmount_under(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _unwind(self, mark: int) -> None:
        errors = []
        with _signals_deferred():
            while len(self._undo) > mark:
                what, fn = self._undo.pop()
                try:
                    fn()
                except Exception as err:
                    errors.append(f"{what}: {err}")
        if errors:
            print("clean-up errors:\n  " + "\n  ".join(errors), file=sys.stderr)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP end the run as SIGINT does (an exception), so that a run stopped
    by `timeout`, by CI or by a closed terminal unwinds its lab instead of dying in place."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP while the block runs, then deliver the first one that came.

    A handler that only records, not a blocked signal mask: processes started by the clean-up
    (ip, daemons' stop commands) would inherit a blocked mask across exec.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and only it receives signals)
        return
    held: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])


def _remove_dirs(paths: list[str]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _ip_netns_del(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def _delete_all(paths: list[str]) -> None:
    for path in paths:
        netns.delete_netns(path, missing_ok=True)


def _is_holder(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0]
    except OSError:
        return False
    return argv0.startswith(PREFIX.encode()) and argv0.endswith(HOLDER.encode())


def _owner_mark(pid: int) -> str | None:
    """ "<pid> <start time>" of a live process (the start time tells a reused pid apart)."""
    start = linux.proc_start_time(pid)
    return None if start is None else f"{pid} {start}"


def _is_stale(lab_dir: str) -> bool:
    """A lab directory whose run is gone: its owner is dead or its pid now someone else's."""
    try:
        with open(f"{lab_dir}/{OWNER_FILE}") as f:
            mark = f.read().strip()
    except FileNotFoundError:  # being made right now, or by a run from before owner files
        try:
            return time.time() - os.stat(lab_dir).st_mtime > STALE_AFTER_S
        except FileNotFoundError:
            return False
    pid = mark.split()[0] if mark else ""
    return not pid.isdigit() or _owner_mark(int(pid)) != mark


def sweep_stale() -> list[str]:
    """Remove what runs killed outright left behind; returns what was removed, one line each.

    For each lab directory in /tmp whose run is gone: kill the processes in its namespaces or
    naming it, unmount and delete its namespaces (`/run/netns/dlbench-<tag>-*` and any under the
    directory), then remove the directory. A live run's lab is never touched.
    """
    tmp = tempfile.gettempdir()
    removed: list[str] = []
    live_tags = set()
    for name in sorted(_listdir(tmp)):
        lab_dir = f"{tmp}/{name}"
        if not (name.startswith(PREFIX) and os.path.isdir(lab_dir)):
            continue
        tag = _tag_of(name)
        if _is_stale(lab_dir):
            removed += _sweep_lab(f"{PREFIX}{tag}-", lab_dir)
        else:
            live_tags.add(tag)
    # A namespace whose run has no directory left: its run is over (a run makes its directory
    # before anything else), whatever stopped it before it could record the namespace.
    for tag in sorted({_tag_of(n) for n in _listdir(NETNS_DIR) if n.startswith(PREFIX)}):
        if tag not in live_tags:
            removed += _sweep_lab(f"{PREFIX}{tag}-", None)
    return removed


def _tag_of(name: str) -> str:
    """The run's tag in `dlbench-<tag>-...`."""
    return name[len(PREFIX) :].split("-", 1)[0]


def _sweep_lab(prefix: str, lab_dir: str | None) -> list[str]:
    # What the dead run started may still be at work (an `ip netns add` finishing its mount, a
    # `dockline` in one of its namespaces): kill, then look at the mounts again, until a round
    # kills nothing, so that no namespace appears after we have read the list.
    removed: list[str] = [] if lab_dir is None else _run_sweep_commands(lab_dir)
    for _round in range(_SWEEP_ROUNDS):
        mounts = _lab_mounts(prefix, lab_dir)
        # Never the namespace we run in, nor the machine's own, whatever got mounted under the
        # lab: killing every process in those would take the machine down with the lab.
        namespaces = {ns for _point, ns in mounts} - _own_namespaces()
        killed = _kill_members(namespaces, (prefix,) if lab_dir is None else (prefix, lab_dir))
        removed += [f"process {p}" for p in killed]
        if not killed:
            break
    removed += [f"mount {point}" for point in _unmount([point for point, _ns in mounts])]
    removed += remove_cgroups(prefix)
    for name in _listdir(NETNS_DIR):
        if name.startswith(prefix):
            with contextlib.suppress(OSError):
                os.unlink(f"{NETNS_DIR}/{name}")
    if lab_dir is None:
        return removed
    removed += _remove_pid_links(f"{lab_dir}/{HOLDERS_FILE}")
    unmount_under(Path(lab_dir))
    shutil.rmtree(lab_dir, ignore_errors=True)
    return [*removed, f"dir {lab_dir}"]


def remove_cgroups(prefix: str) -> list[str]:
    """Remove the cgroups named `prefix...` at the top of every hierarchy, with the cgroups in
    them (deepest first; a cgroup goes only once no process is left in it)."""
    removed = []
    for top in lab_cgroups(prefix):
        for path, _dirs, _files in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        if not os.path.exists(top):
            removed.append(f"cgroup {top}")
    return removed


def lab_cgroups(prefix: str) -> list[str]:
    """The top-level cgroups whose names start with `prefix`, in every hierarchy."""
    hierarchies = [CGROUP_ROOT, *(f"{CGROUP_ROOT}/{h}" for h in _listdir(CGROUP_ROOT))]
    return sorted(
        f"{h}/{name}"
        for h in hierarchies
        if os.path.isdir(h)
        for name in _listdir(h)
        if name.startswith(prefix) and os.path.isdir(f"{h}/{name}")
    )


def _run_sweep_commands(lab_dir: str) -> list[str]:
    """Run the commands the lab asked for (`Lab.on_sweep`), each in its host if that is still
    there; a failure is reported, and the sweep goes on (the kills come next)."""
    try:
        with open(f"{lab_dir}/{SWEEP_FILE}") as f:
            commands = [json.loads(line) for line in f if line.strip()]
    except (FileNotFoundError, ValueError):
        return []
    ran = []
    for command in commands:
        argv, host = command["argv"], f"{NETNS_DIR}/{command['netns']}"
        if not os.path.exists(host):
            continue
        try:
            with in_netns(host):
                proc = subprocess.run(
                    argv, capture_output=True, timeout=SWEEP_COMMAND_TIMEOUT_S, check=False
                )
            outcome = f"exit {proc.returncode}"
        except (OSError, subprocess.TimeoutExpired) as err:
            outcome = type(err).__name__
        ran.append(f"command {' '.join(argv[:1] + argv[-3:])}: {outcome}")
    return ran


def _remove_pid_links(holders_file: str) -> list[str]:
    """The `/run/netns/<pid>` links that `--pid` attaches made to the lab's holders, once the
    holders are gone (a link to a dead pid would point at whatever process gets it next)."""
    try:
        with open(holders_file) as f:
            pids = [line.strip() for line in f if line.strip().isdigit()]
    except FileNotFoundError:
        return []
    removed = []
    for pid in pids:
        link = f"{NETNS_DIR}/{pid}"
        ours = os.path.islink(link) and os.readlink(link) == f"/proc/{pid}/ns/net"
        if ours and not _alive(int(pid)):
            os.unlink(link)
            removed.append(f"link {link}")
    return removed


_SWEEP_ROUNDS = 5


def _lab_mounts(prefix: str, lab_dir: str | None) -> list[tuple[str, str]]:
    """The lab's namespace mounts: `/run/netns/dlbench-<tag>-*`, and any under its directory."""
    places = (
        (f"{NETNS_DIR}/{prefix}",) if lab_dir is None else (f"{NETNS_DIR}/{prefix}", lab_dir + "/")
    )
    return [m for m in _nsfs_mounts() if m[0].startswith(places)]


def _own_namespaces() -> set[str]:
    """Ours and the machine's initial one, as "net:[inode]" (how mountinfo names them)."""
    found = {f"net:[{ino}]" for _dev, ino in netns.initial_netns_ids()}
    return found | {os.readlink("/proc/self/ns/net")}


def _nsfs_mounts() -> list[tuple[str, str]]:
    """(mount point, "net:[inode]") of every network namespace bind mount we can see."""
    return [(point, root) for point, root in _mount_table() if root.startswith("net:[")]


def _kill_members(namespaces: set[str], markers: tuple[str, ...]) -> list[int]:
    """SIGKILL every process in one of `namespaces` or whose command line has a marker, and
    all their descendants (an engine's containers: nothing of theirs names the lab, and they
    would outlive their shim or conmon); wait until they are gone (their parent, or init,
    reaps them)."""
    found: set[int] = set()
    children = _children_of_all()
    # Never this process nor its ancestors (a shell whose command line names the lab), nor
    # through them their other descendants.
    ours = _ancestors(os.getpid(), children)
    for entry in filter(str.isdigit, _listdir("/proc")):
        try:
            ns = os.readlink(f"/proc/{entry}/ns/net")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if ns in namespaces or any(marker in cmdline for marker in markers):
            found.add(int(entry))
    found = _with_descendants(found - ours, children) - ours
    killed = []
    for pid in sorted(found):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    wait_until(lambda: not any(_alive(p) for p in killed), 20, "killed processes to go")
    return killed


def _children_of_all() -> dict[int, list[int]]:
    """Each process's children, from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, _listdir("/proc")):
        try:
            fields = linux.proc_stat_fields(int(pid))
        except KernelError:
            continue
        if fields is not None:  # gone meanwhile
            children.setdefault(int(fields[1]), []).append(int(pid))  # ppid, field 4
    return children


def _ancestors(pid: int, children: dict[int, list[int]]) -> set[int]:
    """`pid` and its ancestors."""
    parent = {child: ppid for ppid, kids in children.items() for child in kids}
    found = {pid}
    while pid in parent and parent[pid] not in found:
        pid = parent[pid]
        found.add(pid)
    return found


def _with_descendants(pids: set[int], children: dict[int, list[int]]) -> set[int]:
    found, todo = set(pids), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running, not just a zombie waiting for its parent."""
    return linux.proc_start_time(pid) is not None


def _stop_all(
    procs: Sequence[subprocess.Popen[bytes]], stop: Callable[[], object] | None = None
) -> None:
    """Ask politely (`stop`, or SIGTERM), wait up to 20 s, then SIGKILL; always reap."""
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
    for proc in procs:
        if proc.poll() is None and stop is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for proc in procs:  # the --pid paths may have left a /run/netns/<pid> link
        with contextlib.suppress(OSError, Exception):
            netns.unlink_netns(f"{NETNS_DIR}/{proc.pid}")


def _mount_table() -> list[tuple[str, str]]:
    """(mount point, root within its file system) of every mount we can see; for a namespace
    bind mount the root is its "net:[inode]"."""
    with open("/proc/self/mountinfo") as f:
        rows = [line.split() for line in f]
    return [(fields[4].replace("\\040", " "), fields[3]) for fields in rows]


def _mounts() -> list[str]:
    return [point for point, _root in _mount_table()]


def unmount_under(root: Path) -> None:
    """Lazily unmount whatever a daemon left mounted under `root`, deepest first."""
    prefix = str(root) + "/"
    _unmount([p for p in _mounts() if p.startswith(prefix)])


def _unmount(points: list[str]) -> list[str]:
    """Lazily unmount `points`, deepest first (a mount under another goes before it)."""
    ordered = sorted(points, key=len, reverse=True)
    for point in ordered:
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    return ordered


def leftovers() -> list[str]:
    """What a run could leave behind and did: namespaces, processes, mounts, tmp dirs named
    `dlbench-`. Read from the system, not from the lab's own records."""
    found = [f"netns {n}" for n in _listdir(NETNS_DIR) if n.startswith(PREFIX)]
    for pid in filter(str.isdigit, _listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(pid) == os.getpid():
            continue
        if PREFIX in cmdline or _root_in_a_lab(pid):
            found.append(f"process {pid} {cmdline.strip()[:120]}")
    found += [f"mount {p}" for p in _mounts() if f"/{PREFIX}" in p]
    found += [f"cgroup {c}" for c in lab_cgroups(PREFIX)]
    tmp = tempfile.gettempdir()
    found += [f"dir {tmp}/{n}" for n in _listdir(tmp) if n.startswith(PREFIX)]
    return found


def _root_in_a_lab(pid: str) -> bool:
    """A process whose root directory is under a lab's (an engine's container)."""
    try:
        root = os.readlink(f"/proc/{pid}/root")
    except OSError:
        return False
    return root.startswith(f"{tempfile.gettempdir()}/{PREFIX}")


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t: ...` then t[0] is the block's wall time in seconds."""
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


class Skippable(Protocol):
    """A method or runtime under measurement that may be skipped with a reason."""

    skipped: str


def guard(outcome: Skippable, fn: Callable[[], object]) -> None:
    """Run one step; a failure marks the method as skipped with the reason, and the run goes on."""
    if outcome.skipped:
        return
    try:
        fn()
    except Exception as err:
        outcome.skipped = f"failed: {type(err).__name__}: {err}"[:300]
