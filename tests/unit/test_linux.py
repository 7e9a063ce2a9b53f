"""Tests for dockline.linux: syscall wrappers and /proc readers, against the real kernel.

Anything that changes namespaces, mounts, the hostname or capabilities runs in a child process
(a fresh interpreter), so the test process and the root namespaces are never changed. Results
are read back through independent tools (cat, awk, hostname, busybox, capsh).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockline import linux
from dockline.errors import InvalidArgument, KernelError
from nslab import proc_stat_field, wait_until

DOCKER_DEFAULT_CAP_MASK = 0x00000000A80425FB  # CapEff of a default `docker run` container

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (in a child process)")


def run_child(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter (so kernel changes die with it); check it succeeds."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def status_masks(text: str) -> dict[str, int]:
    return {
        key: int(value, 16)
        for key, _, value in (line.partition(":\t") for line in text.splitlines())
        if key.startswith("Cap")
    }


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`sleep 30` run from a copy named `a) b ) c`, so its comm holds spaces and ')'."""
    exe = tmp_path / "a) b ) c"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        wait_until(lambda: Path(f"/proc/{proc.pid}/comm").read_text() == "a) b ) c\n")
        yield proc
    finally:
        proc.kill()
        proc.wait()


# proc_start_time


def test_proc_start_time_of_self_matches_field_22() -> None:
    assert linux.proc_start_time(os.getpid()) == proc_stat_field(os.getpid(), 22)


def test_proc_start_time_survives_spaces_and_parens_in_comm(
    sleeper: subprocess.Popen[bytes],
) -> None:
    start = linux.proc_start_time(sleeper.pid)
    # The comm holds three spaces, so a naive whitespace split sees starttime as field 25.
    assert start == proc_stat_field(sleeper.pid, 25)
    own_start = linux.proc_start_time(os.getpid())
    assert own_start is not None and start is not None and start >= own_start


def test_proc_start_time_of_missing_process_is_none() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert linux.proc_start_time(pid_max + 1) is None
    proc = subprocess.Popen(["true"])
    proc.wait()  # reaped: the pid is free (and pid reuse this fast would take 4M forks)
    assert linux.proc_start_time(proc.pid) is None


# capabilities


def test_capability_table_matches_capsh() -> None:
    assert len(linux.CAPABILITIES) == 41
    assert sorted(linux.CAPABILITIES.values()) == list(range(41))
    for name, number in linux.CAPABILITIES.items():
        out = subprocess.run(
            ["capsh", f"--decode={1 << number:#x}"], capture_output=True, text=True, check=True
        ).stdout
        assert out.strip().endswith("=" + name.lower()), out


def test_default_capabilities_are_dockers() -> None:
    assert len(linux.DEFAULT_CAPABILITIES) == 14
    assert sum(1 << cap for cap in linux.DEFAULT_CAPABILITIES) == DOCKER_DEFAULT_CAP_MASK


def test_last_capability_reads_the_kernel() -> None:
    assert linux.last_capability() == int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    assert linux.last_capability() >= linux.CAPABILITIES["CAP_CHECKPOINT_RESTORE"]


@needs_root
def test_drop_capabilities_leaves_only_the_default_set_after_exec() -> None:
    proc = run_child(
        """
        import os
        from dockline import linux
        linux.drop_capabilities(linux.DEFAULT_CAPABILITIES)
        os.execv("/bin/cat", ["cat", "/proc/self/status"])
        """
    )
    masks = status_masks(proc.stdout)
    assert masks["CapEff"] == DOCKER_DEFAULT_CAP_MASK
    assert masks["CapPrm"] == DOCKER_DEFAULT_CAP_MASK
    assert masks["CapBnd"] == DOCKER_DEFAULT_CAP_MASK
    assert masks["CapInh"] == 0  # Docker's since CVE-2022-24769
    assert masks["CapAmb"] == 0


@needs_root
def test_drop_capabilities_rejects_unknown_numbers_before_dropping_anything() -> None:
    proc = run_child(
        """
        from dockline import linux
        from dockline.errors import InvalidArgument
        try:
            linux.drop_capabilities(frozenset({0, 99}))
        except InvalidArgument as err:
            print(err)
        print(open("/proc/self/status").read())
        """
    )
    assert "invalid capability 99" in proc.stdout
    own = status_masks(Path("/proc/self/status").read_text())
    assert status_masks(proc.stdout)["CapBnd"] == own["CapBnd"]


# errors carry the errno


def test_setns_on_bad_fds_raises_kernel_error_with_errno(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    os.close(fd)
    with pytest.raises(KernelError) as closed:
        linux.setns(fd, linux.CLONE_NEWNET)
    assert closed.value.errno == errno.EBADF
    assert closed.value.op == "setns"

    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(KernelError) as not_ns:
            linux.setns(fd, linux.CLONE_NEWNET)
    finally:
        os.close(fd)
    assert not_ns.value.errno == errno.EINVAL


def test_setns_with_the_wrong_namespace_type_is_einval() -> None:
    fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        with pytest.raises(KernelError) as err:
            linux.setns(fd, linux.CLONE_NEWUTS)
    finally:
        os.close(fd)
    assert err.value.errno == errno.EINVAL


def test_umount2_of_missing_path_is_enoent(tmp_path: Path) -> None:
    with pytest.raises(KernelError) as err:
        linux.umount2(str(tmp_path / "missing"))
    assert err.value.errno == errno.ENOENT
    assert err.value.is_missing


# namespaces, hostname and pivot_root, in children


@needs_root
def test_sethostname_in_a_new_uts_namespace() -> None:
    before = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout
    proc = run_child(
        """
        import os
        from dockline import linux
        linux.unshare(linux.CLONE_NEWUTS)
        linux.sethostname("dltest-uts")
        os.execv("/usr/bin/hostname", ["hostname"])
        """
    )
    assert proc.stdout.strip() == "dltest-uts"
    after = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout
    assert after == before


@needs_root
def test_pivot_root_into_a_busybox_rootfs(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "oldroot").mkdir()
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    (rootfs / "marker").write_text("x")
    proc = run_child(
        """
        import os, sys
        from dockline import linux
        root = sys.argv[1]
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount(root, root, None, linux.MS_BIND | linux.MS_REC)  # new root: a mount point
        linux.pivot_root(root, root + "/oldroot")
        os.chdir("/")
        linux.umount2("/oldroot", linux.MNT_DETACH)
        os.execv("/bin/busybox", ["sh", "-c", "ls /; echo ---; ls /oldroot"])
        """,
        str(rootfs),
    )
    listed, old = proc.stdout.split("---\n")
    assert listed.split() == ["bin", "marker", "oldroot"]
    assert old.split() == []
    assert Path("/usr").is_dir()  # our own root is untouched


@needs_root
def test_write_sysctl_in_a_new_network_namespace() -> None:
    before = linux.read_sysctl("net.ipv4.ip_forward")
    proc = run_child(
        """
        import os
        from dockline import linux
        linux.unshare(linux.CLONE_NEWNET)
        linux.write_sysctl("net.ipv4.ip_forward", "1")
        linux.write_sysctl("net/ipv4/conf/lo/forwarding", "1")
        print(linux.read_sysctl("net.ipv4.conf.lo.forwarding"))
        os.execv("/bin/cat", ["cat", "/proc/sys/net/ipv4/ip_forward"])
        """
    )
    assert proc.stdout.split() == ["1", "1"]
    assert linux.read_sysctl("net.ipv4.ip_forward") == before
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == before


def test_sysctl_keys_are_validated_and_missing_ones_are_enoent() -> None:
    assert linux.read_sysctl("kernel.ostype") == "Linux"
    for bad in ("net..ipv4", "net/../../etc/passwd", "", "net.ipv4."):
        with pytest.raises(InvalidArgument):
            linux.read_sysctl(bad)
    with pytest.raises(KernelError) as err:
        linux.read_sysctl("net.ipv4.no_such_knob")
    assert err.value.errno == errno.ENOENT


def test_importing_linux_does_not_load_ctypes() -> None:
    proc = run_child(
        """
        import sys
        import dockline.linux
        print("ctypes" in sys.modules)
        """
    )
    assert proc.stdout.strip() == "False"
