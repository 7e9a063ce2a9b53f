"""The run modes host, container:X and none; privileges; exit statuses; exec; stop."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from e2e_helpers import Dockline

from nslab import wait_until


def logs_show(dl: Dockline, name: str, text: str) -> Callable[[], bool]:
    """A check, for `wait_until`, that container `name` has written `text`."""
    return lambda: text in dl("logs", name).stdout


SERVER = (
    "import socket\ns=socket.socket(); s.bind(('127.0.0.1', 7000)); s.listen()\n"
    "while True:\n    c,_=s.accept(); c.sendall(b'hello over lo'); c.close()"
)
CLIENT = (
    "import socket,time\n"
    "for _ in range(200):\n"
    "    try: s=socket.create_connection(('127.0.0.1', 7000)); break\n"
    "    except OSError: time.sleep(0.02)\n"
    "print(s.recv(100).decode())"
)


def test_host_mode_sees_the_host_stack_and_allocates_nothing(dl: Dockline) -> None:
    dl("network", "ls")
    links = json.loads(dl("run", "--rm", "--net", "host", "--", "ip", "-j", "link").stdout)
    assert "dockline0" in {link["ifname"] for link in links}
    assert dl.network()["Containers"] == {}


def test_host_mode_has_the_host_s_name_unless_h_gives_its_own(dl: Dockline) -> None:
    """As Docker: a host-network container has a UTS namespace of its own; `-h` names it there
    and never renames the host."""
    host_name = dl.ns.run("hostname").stdout
    assert dl("run", "--rm", "--net", "host", "--", "hostname").stdout == host_name
    assert dl("run", "--rm", "--net", "host", "-h", "box9", "--", "hostname").stdout == "box9\n"
    assert dl.ns.run("hostname").stdout == host_name


def test_none_mode_has_only_lo_and_it_is_up(dl: Dockline) -> None:
    links = json.loads(dl("run", "--rm", "--net", "none", "--", "ip", "-j", "link").stdout)
    assert [(link["ifname"], "UP" in link["flags"]) for link in links] == [("lo", True)]


def test_container_mode_shares_the_network_stack(dl: Dockline) -> None:
    dl("run", "-d", "--name", "web", "--", "python3", "-c", SERVER)
    web_ip = dl.inspect("web")["NetworkSettings"]["IPAddress"]
    out = dl(
        "run", "--rm", "--net", "container:web", "--", "ip", "-4", "-o", "addr", "show", "eth0"
    ).stdout
    assert f"{web_ip}/16" in out
    # same namespace: the joined container reaches web's server over lo
    reply = dl("run", "--rm", "--net", "container:web", "--", "python3", "-c", CLIENT).stdout
    assert reply.strip() == "hello over lo"
    assert dl.network()["Containers"].keys() == {dl.inspect("web")["Id"]}


def test_container_mode_is_recorded_with_the_full_id(dl: Dockline) -> None:
    dl("run", "-d", "--name", "web", "--", "sleep", "300")
    web_id = dl.inspect("web")["Id"]
    dl("run", "-d", "--name", "side", "--net", f"container:{web_id[:8]}", "--", "sleep", "300")
    assert dl.inspect("side")["HostConfig"]["NetworkMode"] == f"container:{web_id}"


def test_container_mode_needs_a_running_container(dl: Dockline) -> None:
    proc = dl("run", "--rm", "--net", "container:ghost", "--", "true", check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip() == "dockline: no such container: ghost"
    dl("run", "--name", "gone", "--", "true")
    proc = dl("run", "--rm", "--net", "container:gone", "--", "true", check=False)
    assert proc.returncode == 125 and "not running" in proc.stderr


def test_bridge_container_cannot_change_its_network(dl: Dockline) -> None:
    for command in (
        ["ip", "addr", "add", "172.17.9.9/16", "dev", "eth0"],
        ["ip", "link", "set", "eth0", "address", "02:00:00:00:00:99"],
        ["ip", "route", "add", "10.1.0.0/16", "via", "172.17.0.1"],
    ):
        proc = dl("run", "--rm", "--", *command, check=False)
        assert proc.returncode != 0
        assert "Operation not permitted" in proc.stderr, proc.stderr


def test_capabilities_are_dockers_default_set(dl: Dockline) -> None:
    status = dl("run", "--rm", "--", "cat", "/proc/self/status").stdout
    caps = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
    assert caps["CapEff"].strip() == "00000000a80425fb"
    assert caps["CapBnd"].strip() == "00000000a80425fb"
    assert caps["CapInh"].strip() == "0000000000000000"  # Docker's since CVE-2022-24769
    assert caps["CapAmb"].strip() == "0000000000000000"


def test_privileged_container_may_change_its_network(dl: Dockline) -> None:
    proc = dl(
        "run", "--rm", "--privileged", "--", "ip", "addr", "add", "172.17.9.9/16", "dev", "eth0"
    )
    assert proc.returncode == 0


def test_exit_statuses_follow_docker(dl: Dockline) -> None:
    assert dl("run", "--rm", "--", "sh", "-c", "exit 3", check=False).returncode == 3
    missing = dl("run", "--rm", "--", "no-such-command", check=False)
    assert missing.returncode == 127 and "no-such-command" in missing.stderr
    assert dl("run", "--rm", "--", "/etc/hostname", check=False).returncode == 126
    assert dl("ps", "-aq").stdout.strip() == ""


def test_killed_container_exits_128_plus_signal(dl: Dockline) -> None:
    proc = dl.popen("run", "--rm", "--name", "doomed", "--", "sleep", "300")
    wait_until(lambda: dl("inspect", "doomed", check=False).returncode == 0, what="start")
    os.kill(dl.inspect("doomed")["State"]["Pid"], 9)
    assert proc.wait(timeout=20) == 137


def test_failed_exec_keeps_the_record_without_rm(dl: Dockline) -> None:
    assert dl("run", "--name", "broken", "--", "no-such-command", check=False).returncode == 127
    state = dl.inspect("broken")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 127
    assert dl.network()["Containers"] == {}


def test_own_pid_uts_and_mount_namespaces(dl: Dockline) -> None:
    out = dl(
        "run",
        "--rm",
        "--hostname",
        "box1",
        "--",
        "sh",
        "-c",
        "echo $$; hostname; ls /proc | grep -c '^[0-9]'",
    ).stdout.split()
    assert out[0] == "1" and out[1] == "box1" and int(out[2]) <= 3


def busybox_root(tmp_path: os.PathLike[str]) -> str:
    """A root with busybox alone: no Python library in it, as in most container images."""
    root = os.path.join(tmp_path, "rootfs")
    os.makedirs(os.path.join(root, "bin"))
    os.link("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for applet in ("sh", "ls", "ip", "cat", "sleep"):
        os.symlink("busybox", os.path.join(root, "bin", applet))
    return root


def test_rootfs_becomes_the_root(dl: Dockline, tmp_path: os.PathLike[str]) -> None:
    root = busybox_root(tmp_path)
    out = dl("run", "--rm", "--rootfs", root, "--", "/bin/sh", "-c", "ls /; ip -4 addr").stdout
    assert "bin" in out and "proc" in out and "172.17.0.2/16" in out
    assert "usr" not in out.split()


def test_commands_in_a_rootfs_are_found_in_its_path(
    dl: Dockline, tmp_path: os.PathLike[str]
) -> None:
    """`run` and `exec` look a bare command name up in the container's PATH, inside its root,
    which holds no Python library: nothing may be imported once there."""
    root = busybox_root(tmp_path)
    assert dl("run", "--rm", "--rootfs", root, "--", "sh", "-c", "echo hi").stdout == "hi\n"
    missing = dl("run", "--rm", "--rootfs", root, "--", "nosuch", check=False)
    assert missing.returncode == 127
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stderr
    for flags in ([], ["--privileged"]):
        name = f"rfs{len(flags)}"
        dl("run", "-d", "--name", name, "--rootfs", root, *flags, "--", "sleep", "300")
        assert "busybox" in dl("exec", name, "ls", "/bin").stdout
        assert "busybox" in dl("exec", name, "/bin/ls", "/bin").stdout
        proc = dl("exec", name, "nosuch", check=False)
        assert proc.returncode == 127 and "executable file not found" in proc.stderr
        dl("rm", "-f", name)


def test_exec_runs_in_the_container_without_privileges(dl: Dockline) -> None:
    dl("run", "-d", "--name", "box", "--", "sleep", "300")
    ip = dl.inspect("box")["NetworkSettings"]["IPAddress"]
    assert ip in dl("exec", "box", "ip", "-4", "addr").stdout
    proc = dl("exec", "box", "ip", "addr", "add", "172.17.8.8/16", "dev", "eth0", check=False)
    assert proc.returncode != 0 and "Operation not permitted" in proc.stderr
    assert dl("exec", "box", "sh", "-c", "exit 7", check=False).returncode == 7


def test_exec_sees_the_container_s_environment(dl: Dockline) -> None:
    """As Docker's exec: the command gets the container's environment, `-e` values included."""
    dl("run", "-d", "--name", "envc", "-e", "FOO=bar baz", "--", "sleep", "300")
    dl("run", "--name", "pathc", "-e", "PATH=/bin", "--", "/bin/true")
    assert dl.inspect("pathc")["Config"]["Env"] == ["PATH=/bin"]  # -e wins, as Docker's
    out = dl("exec", "envc", "sh", "-c", 'echo "$FOO|$HOSTNAME|$PATH"').stdout.strip()
    foo, hostname, path = out.split("|")
    assert foo == "bar baz" and hostname == dl.inspect("envc")["Id"][:12]
    assert path.startswith("/usr/local/sbin")
    assert dl.inspect("envc")["Config"]["Env"] == [f"PATH={path}", "FOO=bar baz"]


def test_stop_then_rm(dl: Dockline) -> None:
    dl("run", "-d", "--name", "box", "--", "sleep", "300")
    assert dl("rm", "box", check=False).returncode == 1  # running: refused without -f
    dl("stop", "-t", "1", "box")
    state = dl.inspect("box")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137  # pid 1 ignores SIGTERM
    assert dl.network()["Containers"] == {}
    dl("rm", "box")
    assert dl("ps", "-aq").stdout.strip() == ""
    wait_until(lambda: dl.veths() == [], what="veth removal")


def test_stop_with_a_negative_timeout_never_kills(dl: Dockline) -> None:
    """`stop -t -1` (Docker's and podman's "wait as long as it takes"): a container that takes
    its time over SIGTERM is not killed; with `-t 0` the same one is (137)."""
    slow = "trap 'sleep 1.5; exit 0' TERM; echo ready; while :; do sleep 0.1; done"
    for name, timeout, code in (("patient", "-1", 0), ("hasty", "0", 137)):
        dl("run", "-d", "--name", name, "--", "sh", "-c", slow)
        wait_until(logs_show(dl, name, "ready"), what="the trap to be set")
        dl("stop", "--timeout", timeout, name)
        assert dl.inspect(name)["State"]["ExitCode"] == code, name
        dl("rm", name)


def test_foreground_run_forwards_signals(dl: Dockline) -> None:
    proc = dl.popen(
        "run",
        "--rm",
        "--name",
        "fg",
        "--",
        "sh",
        "-c",
        "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done",
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.terminate()
    assert proc.wait(timeout=20) == 42
    assert dl("ps", "-aq").stdout.strip() == ""


def test_logs_tail_and_follow_until_the_container_exits(dl: Dockline) -> None:
    """`logs -f` copies output as it comes and returns when the container exits; `--tail N`
    (`-n`) shows the last N lines, as Docker's do."""
    gate = dl.state / "gate"
    os.mkfifo(gate)
    script = f"echo one; echo two; read go < {gate}; echo three; sleep 0.3; echo four"
    dl("run", "-d", "--name", "talker", "--", "sh", "-c", script)
    wait_until(lambda: "two" in dl("logs", "talker").stdout, what="the first lines")
    assert dl("logs", "--tail", "1", "talker").stdout == "two\n"
    assert dl("logs", "-n", "0", "talker").stdout == ""
    follower = dl.popen("logs", "-f", "talker")
    with open(gate, "w") as f:  # let the container go on: it writes two more lines and exits
        f.write("\n")
    out, err = follower.communicate(timeout=30)
    assert (follower.returncode, out, err) == (0, "one\ntwo\nthree\nfour\n", "")
    assert dl("logs", "--tail", "x", "talker", check=False).returncode == 125
