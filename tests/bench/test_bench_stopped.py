"""A benchmark run that is stopped midway leaves nothing behind: on SIGTERM it unwinds its lab
itself; killed outright (SIGKILL) its holders die with it and the next run sweeps the rest.

Each test starts a real `benchmarks/run.py --quick` and stops it once its attach section has
namespaces and holder processes, then checks from the outside (`leftovers()`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslab import netns_inode, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.containers import DockerRuntime, PodmanRuntime, Runtime
from benchmarks.lab import (
    NETNS_DIR,
    OWNER_FILE,
    PREFIX,
    REPO,
    Lab,
    lab_cgroups,
    leftovers,
    sweep_stale,
)
from benchmarks.run import QUICK

from dockline import linux

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def holders() -> list[int]:
    """Pids of benchmark holder processes (argv[0] `dlbench-<tag>-holder`)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if argv0.startswith(PREFIX) and argv0.endswith("-holder"):
            found.append(int(pid))
    return found


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


@pytest.fixture
def midway(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A quick run of the attach section, once it has namespaces and holders; killed and swept
    afterwards whatever the test did."""
    assert leftovers() == [], "a run's leftovers were here before the test"
    argv = [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--no-install"]
    argv += ["--sections", "attach", "--out", str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # All of them: a holder forked just before its parent dies outright has no parent-death
        # signal yet (the sweep still finds it by name, but this test checks the signal).
        count = QUICK.containers + 1
        wait_until(
            lambda: len(holders()) >= count or proc.poll() is not None, 120, "the run's holders"
        )
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert any(n.startswith(PREFIX) for n in os.listdir(NETNS_DIR))
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        sweep_stale()
        # also after a run killed while it was still making things (its `ip netns add` ...)
        assert leftovers() == []


def test_sigterm_unwinds_the_lab(midway: subprocess.Popen[bytes]) -> None:
    pids = holders()
    midway.send_signal(signal.SIGTERM)
    assert midway.wait(timeout=120) == 128 + signal.SIGTERM
    assert leftovers() == []
    # no `--pid` attach still in flight made a link to a holder after the lab removed them
    assert [p for p in pids if os.path.lexists(f"{NETNS_DIR}/{p}")] == []


def test_after_sigkill_holders_die_and_the_next_run_sweeps_the_rest(
    midway: subprocess.Popen[bytes],
) -> None:
    pids = holders()
    linked = lambda: any(os.path.islink(f"{NETNS_DIR}/{p}") for p in pids)  # noqa: E731
    wait_until(linked, 60, "a `--pid` attach's link to a holder")
    midway.kill()
    midway.wait()
    wait_until(lambda: not holders(), 20, "holders to die with their parent")
    left = leftovers()
    assert any(x.startswith("netns ") for x in left) and any(x.startswith("dir ") for x in left)
    removed = sweep_stale()
    assert any(x.startswith("dir ") for x in removed), removed
    assert leftovers() == []
    # the `--pid` attaches' links to the holders, made in the machine's /run/netns
    assert [p for p in pids if os.path.lexists(f"{NETNS_DIR}/{p}")] == []


def test_sweep_leaves_a_live_runs_lab_alone(midway: subprocess.Popen[bytes]) -> None:
    lab_dirs = [x for x in leftovers() if x.startswith("dir ")]
    assert lab_dirs
    assert sweep_stale() == []
    time.sleep(0.2)
    assert midway.poll() is None
    assert set(lab_dirs) <= set(leftovers())


def test_sweep_removes_a_namespace_whose_run_left_no_directory() -> None:
    """A run stopped between making a namespace and recording it: its directory is gone with
    its clean-up, and the namespace, with a process still in it, is swept by its name."""
    assert leftovers() == []
    name = f"{PREFIX}feed00-x1"
    subprocess.run(["ip", "netns", "add", name], check=True)
    inside = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    try:
        # Swept before `ip netns exec` has entered it, the namespace would be unmounted under
        # it and `ip` would fail to open it (exit 255, not killed by the sweep): the likely
        # cause of this test's one failure under the full suite's load.
        ino = os.stat(f"{NETNS_DIR}/{name}").st_ino
        wait_until(lambda: netns_inode(inside.pid) == ino, what="ip netns exec to enter")
        removed = sweep_stale()
        assert f"mount {NETNS_DIR}/{name}" in removed and inside.wait(timeout=10) == -9
    finally:
        inside.kill()
        inside.wait()
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    assert leftovers() == []


@pytest.mark.parametrize(
    ("engine_class", "engine_died"),
    [(PodmanRuntime, False), (DockerRuntime, False), (DockerRuntime, True)],
    ids=["podman", "docker", "docker-died-too"],
)
def test_sweep_stops_an_engines_containers_after_its_run_was_killed(
    engine_class: type[Runtime], engine_died: bool
) -> None:
    """An engine's container outlives a run killed outright: the sweep has the engine remove
    it (`Lab.on_sweep`), network namespace and all (podman's is in /run/netns, where only podman
    knows it; dockerd is not the run's child and outlives it too). If dockerd died with the
    run, the sweep kills the container and removes its cgroups (under the lab's own parent)."""
    engine = engine_class()
    if reason := engine.available():
        pytest.skip(reason)
    assert leftovers() == []
    lab = Lab()
    try:
        engine.prepare(lab)
        name = f"sweep-{os.getpid()}"  # nothing in it names the lab
        engine.start_detached(name)
        pid = int(engine.cli("inspect", "-f", "{{.State.Pid}}", name).strip())
        sandbox = engine.cli("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", name).strip()
        assert os.path.exists(sandbox)
        assert any(str(pid) in _procs_of(c) for c in lab_cgroups(f"{PREFIX}{lab.tag}-"))
        if engine_died:
            assert isinstance(engine, DockerRuntime)
            engine.daemon.kill()
            engine.daemon.wait()
        (lab.tmp / OWNER_FILE).write_text("1 0")  # its run is gone: pid 1 started at boot
        sweep_stale()
        assert linux.proc_start_time(pid) is None, "the container still runs"
        if not engine_died:  # else docker's sandbox stays, a mount in its exec root: swept
            assert not os.path.lexists(sandbox), f"its network namespace {sandbox} is left"
        assert leftovers() == []
    finally:
        lab.close()
    assert leftovers() == []


def _procs_of(cgroup: str) -> str:
    """The pids in `cgroup` and in the cgroups under it, as text."""
    return " ".join(
        Path(path, "cgroup.procs").read_text() for path, _dirs, _files in os.walk(cgroup)
    )


def test_sweep_kills_what_a_dead_runs_processes_started() -> None:
    """A container's process names nothing of the lab, and outlives its shim or conmon: the
    sweep kills the descendants of every process it kills."""
    assert leftovers() == []
    lab = Lab()
    shim, child = None, 0
    try:
        script = f": {lab.tmp}; sleep 3600 & echo $!; wait"  # its command line names the lab
        shim = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, text=True)
        assert shim.stdout is not None
        child = int(shim.stdout.readline())
        wait_until(lambda: cmdline(child).startswith(b"sleep"), what="the child to exec")
        assert str(lab.tmp).encode() not in cmdline(child)
        (lab.tmp / OWNER_FILE).write_text("1 0")  # its run is gone: pid 1 started at boot
        removed = sweep_stale()
        assert f"process {child}" in removed
        assert shim.wait(timeout=10) == -9
        wait_until(lambda: linux.proc_start_time(child) is None, what="the child to go")
    finally:
        if shim is not None:
            if shim.poll() is None:
                shim.kill()
                shim.wait()
            if shim.stdout is not None:
                shim.stdout.close()
        if child and linux.proc_start_time(child) is not None:
            os.kill(child, signal.SIGKILL)
        lab.close()
    assert leftovers() == []
