"""Whole containers: `run --rm -- true` and the per-container monitor, dockline against podman
and docker, each engine inside a host namespace of its own.

podman runs as root with throwaway `--root/--runroot/--tmpdir/--network-config-dir` under the
lab's directory and its default bridge network (netavark), which works offline inside the
throwaway host namespace. dockerd runs in the host namespace and a private mount namespace, with
its own data and exec roots and socket. Both use runc: crun refuses this machine's hybrid cgroup
layout. Both get modest `--ulimit nofile/nproc`, because their defaults are above what root may set
without CAP_SYS_RESOURCE in this sandbox (dockline keeps the caller's limits).
The image is a busybox root filesystem made here from /bin/busybox and imported locally.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import tarfile
import time
from pathlib import Path

from benchmarks.attach import dockline_env
from benchmarks.lab import BIN, Host, Lab, bench_env, guard, spawn, wait_until
from dockline import linux

IMAGE = "localhost/dlbench-busybox:latest"
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "true", "sleep")


def busybox_tar(lab: Lab) -> Path:
    """A one-layer root filesystem: static busybox and the applets the benchmarks run."""
    root = lab.dir("rootfs")
    tar_path = root / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return tar_path


def unpacked(tar_path: Path, into: Path) -> Path:
    """The image's files as a directory, for `dockline run --rootfs`."""
    with tarfile.open(tar_path) as tar:
        tar.extractall(into)  # our own tar (busybox_tar): nothing to filter
    return into


def ulimit_flags() -> list[str]:
    """Modest fixed limits (they do not change what `true` costs), below every hard limit here."""
    return ["--ulimit=nofile=1024:1024", "--ulimit=nproc=4096:4096"]


def rss_of(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a live process in MiB, read from /proc."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    pss = rss
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        pass
    return rss / 1024, pss / 1024


def parent_of(pid: int) -> int:
    fields = linux.proc_stat_fields(pid)
    if fields is None:
        raise RuntimeError(f"process {pid} is gone")
    return int(fields[1])  # ppid, field 4


class Runtime:
    """One container runtime on its own host: `run --rm` timed, and detached containers whose
    per-container monitor process (dockline's monitor, conmon, containerd-shim) is measured."""

    key = ""
    label = ""
    monitor = ""  # what the per-container process is called

    def available(self) -> str:
        return ""

    def prepare(self, lab: Lab) -> None:
        raise NotImplementedError

    def run_argv(self) -> list[str]:
        raise NotImplementedError

    def run_once(self) -> float:
        with self.host.entered():
            return spawn(self.run_argv(), env=self.env).check(f"{self.key} run").seconds

    def cli(self, *args: str) -> str:
        with self.host.entered():
            return spawn([*self.base, *args], env=self.env).check(f"{self.key} {args[0]}").stdout

    def start_detached(self, name: str) -> int:
        """Start `sleep 3600` detached; returns the pid of its monitor process."""
        raise NotImplementedError

    def remove(self, name: str) -> None:
        raise NotImplementedError

    host: Host
    env: dict[str, str]
    base: list[str]
    rootfs: str


class DocklineRuntime(Runtime):
    key, label, monitor = "dockline", "dockline run --rm -- true", "dockline monitor"

    def prepare(self, lab: Lab) -> None:
        self.host = lab.host("drun")
        self.env = dockline_env(lab)
        self.base = [str(BIN / "dockline")]
        self.rootfs = str(unpacked(busybox_tar(lab), lab.dir("dockline-rootfs")))
        lab.defer("remove dockline containers", self._remove_all)
        self.run_once()  # warm-up: makes the network

    def run_argv(self) -> list[str]:
        """The engines' image, as a root of its own (`--rootfs`: its mounts and pivot_root)."""
        return [*self.base, "run", "--rm", "--rootfs", self.rootfs, "--", "true"]

    def start_detached(self, name: str) -> int:
        self.cli("run", "-d", "--name", name, "--rootfs", self.rootfs, "--", "sleep", "3600")
        pid = int(self.cli("inspect", "-f", "{{.State.Pid}}", name).strip())
        return parent_of(pid)

    def remove(self, name: str) -> None:
        self.cli("rm", "-f", name)

    def _remove_all(self) -> None:
        ids = self.cli("ps", "-aq").split()
        if ids:
            self.cli("rm", "-f", *ids)


class PodmanRuntime(Runtime):
    key, label, monitor = "podman", "podman run --rm (bridge)", "conmon"

    def available(self) -> str:
        for tool in ("podman", "runc"):
            if shutil.which(tool) is None:
                return f"{tool} not installed"
        return ""

    def prepare(self, lab: Lab) -> None:
        self.host = lab.host("pm")
        d = lab.dir("podman")
        self.env = bench_env()
        self.base = [
            "podman",
            f"--root={d}/root",
            f"--runroot={d}/runroot",
            f"--tmpdir={d}/tmp",
            f"--network-config-dir={d}/net",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            "--storage-driver=overlay",
            "--runtime=runc",
        ]
        self.cgroup_parent = lab.cgroup_parent("pmcg")
        lab.defer("remove podman containers", lambda: self.cli("rm", "-af", "-t", "0"))
        # Killed outright, the run leaves them to the next run's sweep: their network namespaces
        # are in /run/netns, not under the lab, and only podman knows which are its own.
        lab.on_sweep(self.host, [*self.base, "rm", "-af", "-t", "0"])
        self.cli("import", str(busybox_tar(lab)), IMAGE)
        self.run_once()  # warm-up: makes the podman0 bridge and its rules

    def run_argv(self) -> list[str]:
        return [*self.base, "run", "--rm", *self._run_flags(), IMAGE, "true"]

    def start_detached(self, name: str) -> int:
        self.cli("run", "-d", "--name", name, *self._run_flags(), IMAGE, "sleep", "3600")
        return int(self.cli("inspect", "-f", "{{.State.ConmonPid}}", name).strip())

    def remove(self, name: str) -> None:
        self.cli("rm", "-f", "-t", "0", name)

    def _run_flags(self) -> list[str]:
        return [f"--cgroup-parent={self.cgroup_parent}", *ulimit_flags()]


class DockerRuntime(Runtime):
    key, label, monitor = "docker", "docker run --rm (bridge)", "containerd-shim"
    DOCKERD = "/usr/sbin/dockerd"
    CLIENT = "/usr/bin/docker"  # Debian's client (another may come first on PATH)

    def available(self) -> str:
        for tool in (self.DOCKERD, self.CLIENT, shutil.which("runc") or "/nonexistent/runc"):
            if not os.path.exists(tool):
                return f"{os.path.basename(tool)} not installed (docker.io)"
        return ""

    def prepare(self, lab: Lab) -> None:
        self.host = lab.host("dk")
        d = lab.dir("docker")
        parent = lab.cgroup_parent("dkcg")
        (d / "daemon.json").write_text(json.dumps({"cgroup-parent": parent}))
        sock = f"unix://{d}/docker.sock"
        self.env = bench_env(DOCKER_CONFIG=str(d / "client"))
        self.base = [self.CLIENT, "-H", sock]
        argv = [
            "unshare", "--mount", "--propagation", "private", "--",
            self.DOCKERD,
            f"--config-file={d}/daemon.json",
            f"--data-root={d}/data",
            f"--exec-root={d}/exec",
            f"--pidfile={d}/docker.pid",
            f"--host={sock}",
            "--storage-driver=overlay2",
            *(f"--default-ulimit={u.split('=', 1)[1]}" for u in ulimit_flags()),
        ]  # fmt: skip
        with self.host.entered():
            self.daemon = lab.daemon(argv, env=self.env, log=d / "dockerd.log")
        lab.defer("remove docker containers", self._remove_all)
        # Killed outright, the run leaves dockerd running (and its containers with it) to the
        # next run's sweep, which has it remove them, cgroups and all.
        client = shlex.join(self.base)
        remove_all = f'ids=$({client} ps -aq) && if [ -n "$ids" ]; then {client} rm -f $ids; fi'
        lab.on_sweep(self.host, ["sh", "-c", remove_all])
        wait_until(self._ready, 90, "dockerd to answer")
        self.cli("import", str(busybox_tar(lab)), IMAGE)
        self.run_once()

    def _ready(self) -> bool:
        if self.daemon.poll() is not None:
            raise RuntimeError(f"dockerd exited with {self.daemon.returncode}")
        with self.host.entered():
            return spawn([*self.base, "version"], env=self.env).status == 0

    def run_argv(self) -> list[str]:
        return [*self.base, "run", "--rm", IMAGE, "true"]

    def start_detached(self, name: str) -> int:
        self.cli("run", "-d", "--name", name, IMAGE, "sleep", "3600")
        pid = int(self.cli("inspect", "-f", "{{.State.Pid}}", name).strip())
        return parent_of(pid)

    def remove(self, name: str) -> None:
        self.cli("rm", "-f", name)

    def _remove_all(self) -> None:
        if self.daemon.poll() is None:
            ids = self.cli("ps", "-aq").split()
            if ids:
                self.cli("rm", "-f", *ids)


def all_runtimes() -> list[Runtime]:
    return [DocklineRuntime(), PodmanRuntime(), DockerRuntime()]


class EngineOutcome:
    """Samples of one engine: run --rm times (s) and monitor RSS/PSS (MiB), or why not."""

    def __init__(self, runtime: Runtime, skipped: str) -> None:
        self.runtime = runtime
        self.skipped = skipped
        self.runs: list[float] = []
        self.rss: list[float] = []
        self.pss: list[float] = []


def measure(lab: Lab, runtimes: list[Runtime], runs: int, monitors: int) -> list[EngineOutcome]:
    """`runs` interleaved `run --rm` per engine, then `monitors` detached containers each."""
    outcomes = [EngineOutcome(r, r.available()) for r in runtimes]
    for o in outcomes:
        guard(o, functools.partial(o.runtime.prepare, lab))
    for _ in range(runs):
        for o in outcomes:
            guard(o, functools.partial(_run_once, o))
    for o in outcomes:
        if monitors and not o.skipped:
            guard(o, functools.partial(_monitors, o, monitors))
    return outcomes


def _run_once(outcome: EngineOutcome) -> None:
    outcome.runs.append(outcome.runtime.run_once())


def _monitors(outcome: EngineOutcome, count: int) -> None:
    names = [f"dlbench-m{i}-{os.getpid()}" for i in range(count)]
    try:
        pids = [outcome.runtime.start_detached(n) for n in names]
        # Read at the monitors' steady state: dockline's execs its waiter just after `run -d`
        # returns (see dockline.runtime.waiter), and the others may settle too.
        time.sleep(1.0)
        for pid in pids:
            rss, pss = rss_of(pid)
            outcome.rss.append(rss)
            outcome.pss.append(pss)
    finally:
        for name in names:
            try:
                outcome.runtime.remove(name)
            except Exception:
                continue
