"""Bad input: one clear line naming the value, a non-zero exit, no traceback, nothing changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from e2e_helpers import Dockline

from nslab import wait_until


def snapshot(dl: Dockline) -> tuple[object, ...]:
    links = sorted((str(link["ifname"]), str(link.get("master", ""))) for link in dl.host_links())
    netns = sorted(n for n in os.listdir("/run/netns") if n.startswith("dockline-"))
    containers = dl.network()["Containers"]
    return links, netns, sorted(containers), dl("ps", "-aq").stdout.split()


def assert_one_line_error(proc: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockline: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def lone_pid(dl: Dockline) -> Iterator[int]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", dl.ns.name, "unshare", "-n", "sh", "-c", "echo ok; exec sleep 60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ok\n"
    proc.stdout.close()
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def busy(dl: Dockline) -> Dockline:
    """A network with one running container at 172.17.0.2 named `taken`."""
    dl("run", "-d", "--name", "taken", "--", "sleep", "300")
    return dl


RUN_CASES = [
    (["--mac-address", "01:00:5e:00:00:01"], "01:00:5e:00:00:01", "multicast"),
    (["--mac-address", "zz:zz"], "zz:zz", "MAC"),
    (["--mac-address", "00:00:00:00:00:00"], "00:00:00:00:00:00", "zero"),
    (["--ip", "10.0.0.5"], "10.0.0.5", "172.17.0.0/16"),
    (["--ip", "172.17.0.1"], "172.17.0.1", "gateway"),
    (["--ip", "172.17.255.255"], "172.17.255.255", "broadcast"),
    (["--ip", "172.17.0.2"], "172.17.0.2", "in use"),
    (["--ip", "300.1.1.1"], "300.1.1.1", "IP"),
    (["--name", "taken"], "taken", "in use"),
    (["--name", "bad name!"], "bad name!", "name"),
    (["--net", "bogus"], "bogus", "network mode"),
    (["--net", "host", "--ip", "172.17.0.9"], "host", "bridge mode"),
    (["--rootfs", "/no/such/dir"], "/no/such/dir", "directory"),
]


@pytest.mark.parametrize(("flags", "value", "why"), RUN_CASES, ids=[c[1] for c in RUN_CASES])
def test_run_rejects_bad_input(busy: Dockline, flags: list[str], value: str, why: str) -> None:
    before = snapshot(busy)
    proc = busy("run", "--rm", *flags, "--", "true", check=False)
    assert_one_line_error(proc, 125, value, why)
    assert snapshot(busy) == before


CONNECT_CASES = [
    (["bridge", "--ip", "10.9.9.9"], "10.9.9.9", 125),
    (["bridge", "--mac-address", "ff:ff:ff:ff:ff:ff"], "ff:ff:ff:ff:ff:ff", 125),
    (["bridge", "--ifname", "a/b"], "a/b", 125),
    (["nosuchnet"], "nosuchnet", 1),
]


@pytest.mark.parametrize(
    ("args", "value", "status"), CONNECT_CASES, ids=[c[1] for c in CONNECT_CASES]
)
def test_connect_rejects_bad_input(
    busy: Dockline, lone_pid: int, args: list[str], value: str, status: int
) -> None:
    before = snapshot(busy)
    proc = busy("network", "connect", *args[:1], "--pid", str(lone_pid), *args[1:], check=False)
    assert_one_line_error(proc, status, value)
    assert snapshot(busy) == before
    assert not os.path.lexists(f"/run/netns/{lone_pid}")


def test_connect_to_a_missing_pid(busy: Dockline) -> None:
    before = snapshot(busy)
    proc = busy("network", "connect", "bridge", "--pid", "4000000", check=False)
    assert_one_line_error(proc, 1, "4000000", "no such process")
    assert snapshot(busy) == before


def test_connect_needs_a_target(busy: Dockline) -> None:
    proc = busy("network", "connect", "bridge", check=False)
    assert proc.returncode == 125 and "--pid" in proc.stderr


def test_connect_twice_to_the_same_namespace_is_a_conflict(busy: Dockline, lone_pid: int) -> None:
    busy("network", "connect", "bridge", "--pid", str(lone_pid))
    before = snapshot(busy)
    proc = busy("network", "connect", "bridge", "--pid", str(lone_pid), check=False)
    assert_one_line_error(proc, 1, str(lone_pid), "already connected")
    assert snapshot(busy) == before
    busy("network", "disconnect", "bridge", "--pid", str(lone_pid))


def test_unknown_objects(busy: Dockline) -> None:
    assert_one_line_error(busy("inspect", "ghost", check=False), 1, "ghost")
    assert_one_line_error(busy("rm", "ghost", check=False), 1, "ghost")
    assert_one_line_error(busy("stop", "ghost", check=False), 1, "ghost")
    assert_one_line_error(busy("exec", "ghost", "true", check=False), 1, "ghost")
    assert_one_line_error(busy("network", "inspect", "ghost", check=False), 1, "ghost")
    proc = busy("network", "disconnect", "bridge", "--netns", "/run/netns/ghost", check=False)
    assert_one_line_error(proc, 1, "/run/netns/ghost")


def test_bad_config_file(dl: Dockline) -> None:
    dl.config(bip="172.18.0.1")  # no prefix length
    proc = dl("run", "--rm", "--", "true", check=False)
    assert_one_line_error(proc, 125, "bip", "172.18.0.1")
    dl.config(colour="blue")
    assert_one_line_error(dl("network", "ls", check=False), 125, "colour")
    assert [link["ifname"] for link in dl.host_links()] == ["lo"]


def test_usage_errors_exit_125(dl: Dockline) -> None:
    assert dl("ps", "--bogus", check=False).returncode == 125
    assert dl("run", check=False).returncode == 125
    assert dl("network", "connect", "bridge", "--pid", "abc", check=False).returncode == 125
    assert dl("--bogus", check=False).returncode == 125  # not a request for help
    assert dl("network", "--bogus", check=False).returncode == 125


@pytest.mark.parametrize(("args", "shows"), [((), "network"), (("network",), "connect")])
def test_no_command_prints_the_help_and_exits_0(
    dl: Dockline, args: tuple[str, ...], shows: str
) -> None:
    """As Docker's CLI: `dockline`, or `dockline network`, alone asks for that help."""
    proc = dl(*args)
    assert proc.stdout.startswith("usage: dockline") and shows in proc.stdout
    assert proc.stderr == ""


def test_gc_takes_table_or_json_and_says_so(dl: Dockline, lone_pid: int) -> None:
    dl("network", "connect", "bridge", "--pid", str(lone_pid))
    os.kill(lone_pid, signal.SIGKILL)  # gc now has an endpoint to remove
    wait_until(lambda: dl.veths() == [], what="the veth to go with the namespace")
    proc = dl("gc", "--format", "{{.Endpoints}}", check=False)
    assert proc.returncode == 125 and "{{.Endpoints}}" in proc.stderr
    assert len(dl.network()["Containers"]) == 1  # still recorded: the format was checked first
    gc_help = dl("gc", "--help").stdout
    assert "'table' (default) or 'json'" in gc_help and "template" not in gc_help
    assert "'table TEMPLATE'" in dl("ps", "--help").stdout  # the others' --format is unchanged


def test_inspect_prints_what_it_found_then_an_error_per_missing_one(dl: Dockline) -> None:
    """As Docker's: the JSON array of what was found (`[]` for nothing), then one line on
    stderr for each name not found, exit 1; containers and networks alike."""
    for command in (("inspect",), ("network", "inspect")):
        proc = dl(*command, "ghost", check=False)
        assert proc.stdout == "[]\n"
        assert_one_line_error(proc, 1, "ghost")
    proc = dl("network", "inspect", "bridge", "ghost", check=False)
    assert [n["Name"] for n in json.loads(proc.stdout)] == ["bridge"]
    assert_one_line_error(proc, 1, "no such network: ghost")


def test_a_state_directory_others_may_write_is_refused_unchanged(dl: Dockline) -> None:
    """`--root` naming a shared directory (or a mistyped `--root /tmp`) is refused, its mode
    left as it was, even by `ps`, which only reads."""
    shared = dl.state / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    proc = dl("--root", str(shared), "ps", check=False)
    assert_one_line_error(proc, 125, str(shared), "writable by others", "1777")
    assert os.stat(shared).st_mode & 0o7777 == 0o1777
    assert os.listdir(shared) == []


def test_a_state_directory_under_a_file_is_a_one_line_error(dl: Dockline) -> None:
    (dl.state / "afile").write_text("")
    proc = dl("--root", str(dl.state / "afile" / "sub"), "ps", check=False)
    assert_one_line_error(proc, 125, str(dl.state / "afile" / "sub"), "Not a directory")


def test_connect_refuses_the_hosts_own_namespace(busy: Dockline) -> None:
    before = snapshot(busy)
    proc = busy("network", "connect", "bridge", "--netns", busy.ns.path, check=False)
    assert_one_line_error(proc, 125, busy.ns.path, "host's own")
    assert snapshot(busy) == before


def test_state_directories_are_private_and_never_symlinks(dl: Dockline) -> None:
    dl("run", "-d", "--name", "box", "--", "sleep", "300")
    for directory in ("lib", "run", "run/containers"):
        assert os.stat(dl.state / directory).st_mode & 0o777 == 0o700, directory
    assert os.stat(dl.state / "lib" / "dockline.db").st_mode & 0o777 == 0o600
    dl("rm", "-f", "box")
    elsewhere = dl.state / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (dl.state / "run").rename(dl.state / "run.old")
    (dl.state / "run").symlink_to(elsewhere)
    proc = dl("run", "-d", "--name", "box2", "--", "sleep", "300", check=False)
    assert_one_line_error(proc, 125, "symlink")
    assert dl("ps", "-aq").stdout.strip() == ""
