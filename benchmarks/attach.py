"""Attach and detach one container at a time: dockline's three entry points and the anchors.

Every method gets a host namespace of its own (so one method's links never slow another's) and
the same work per container: a veth pair with the peer in the container's namespace as `eth0`,
the host end on a bridge, an IPv4 address, `lo` up where the method does it, the default route.
Methods take turns in blocks of `BLOCK` containers (as the issue's own reference measured each
way over a run of containers), in an order that rotates from block to block, so drift in the
machine's load, and whatever the previous turn left behind, falls on all of them alike.
What is timed is the call (API) or the whole process (CLIs), never the making of the namespaces.

Why blocks and not container by container (as until `db38704`): with a turn per container,
each API attach ran right after five other tools' processes had refilled both CPUs' caches, so
it measured a cold cache refill (~0.6 ms on 2 vCPUs) more than dockline; a long-lived process
attaching a series of containers (a runtime, an orchestrator) does not work that way.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from benchmarks.lab import BIN, Host, Lab, Spawned, bench_env, guard, in_netns, spawn
from dockline.addr import IPv4Address, IPv4Interface
from dockline.api import Engine, Paths
from dockline.ipam import mac_from_ipv4
from dockline.netlink import Netlink, configure_interface, create_veth, delete_link, get_link

SUBNET_PREFIX = "172.17"  # inside throwaway host namespaces only
GATEWAY = f"{SUBNET_PREFIX}.0.1"
CNI_BRIDGE = "/usr/lib/cni/bridge"
NETAVARK = "/usr/lib/podman/netavark"


def container_ip(i: int) -> str:
    """The i-th container's address, from .0.2 on (anchors without IPAM need them given)."""
    n = i + 2
    return f"{SUBNET_PREFIX}.{n // 256}.{n % 256}"


def bridge_batch() -> bytes:
    """`ip -batch` lines for a bridge made as dockline makes it (multicast snooping off), with
    the gateway address, up."""
    return (
        "link add br0 type bridge mcast_snooping 0\n"
        f"addr add {GATEWAY}/16 dev br0\n"
        "link set br0 up\n"
    ).encode()


def engine_in(lab: Lab, host: Host) -> Engine:
    """A dockline engine bound to `host`, with private state; closed when the lab closes."""
    state = lab.dir("state")
    with host.entered():
        engine = Engine(
            Paths(root=str(state / "lib"), run_root=str(state / "run"), config=str(state / "none"))
        )
    lab.defer("close engine", engine.close)
    return engine


def dockline_env(lab: Lab) -> dict[str, str]:
    """Environment for the dockline CLI with private state."""
    state = lab.dir("cli")
    return bench_env(
        DOCKLINE_ROOT=str(state / "lib"),
        DOCKLINE_RUN_ROOT=str(state / "run"),
        DOCKLINE_CONFIG=str(state / "none.json"),
    )


@dataclass
class Method:
    """One way of attaching containers. `prepare` makes `count` targets plus one for warm-up
    (the first attach on a host makes the bridge and, for dockline, the firewall)."""

    key: str
    label: str
    spawned: list[Spawned] = field(default_factory=list)  # the processes of the last call
    wrapper: list[str] = field(default_factory=list)  # e.g. GNU time, for the memory runs
    in_process: ClassVar[bool] = False  # no process of its own: no peak RSS to measure

    def available(self) -> str:
        """Why this method cannot run here ("" if it can)."""
        return ""

    def prepare(self, lab: Lab, count: int) -> None:
        raise NotImplementedError

    def attach(self, i: int) -> float:
        raise NotImplementedError

    def detach(self, i: int) -> float:
        raise NotImplementedError

    def warm_up(self, i: int) -> None:
        self.attach(i)
        self.detach(i)
        self.spawned.clear()

    def _run(self, host: Host, argv: list[str], what: str, **kw: object) -> float:
        with host.entered():
            result = spawn([*self.wrapper, *argv], **kw).check(what)  # type: ignore[arg-type]
        self.spawned.append(result)
        return result.seconds


class ApiMethod(Method):
    """`Engine.connect` / `Engine.disconnect` in this process, by namespace path."""

    in_process = True

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("api")
        self.engine = engine_in(lab, self.host)
        self.paths = lab.netns(count + 1)
        self.warm_up(count)

    def attach(self, i: int) -> float:
        start = time.perf_counter()
        self.engine.connect(netns_path=self.paths[i])
        return time.perf_counter() - start

    def detach(self, i: int) -> float:
        start = time.perf_counter()
        self.engine.disconnect(netns_path=self.paths[i])
        return time.perf_counter() - start


class KernelRequestsMethod(Method):
    """dockline's kernel requests for one attach, sent from this process with nothing around
    them: the veth's creation on the bridge, then the batch inside the namespace (`lo` up, the
    address, `eth0` up, the route), with names and addresses given; no store, no checks, no
    planning. The in-process floor under `attach.api`: the API's time above it is dockline's
    own work, which the API's ratio to `ip -batch` mixes with how fast this machine starts
    processes. Detach deletes the host end, as the API's does."""

    in_process = True

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("netlink")
        self.paths = lab.netns(count + 1)
        self.host.ip("-batch", "-", stdin=bridge_batch())
        with self.host.entered():
            self.nl = Netlink.open()
        lab.defer("close netlink socket", self.nl.close)
        bridge = get_link(self.nl, "br0")
        assert bridge is not None
        self.bridge = bridge.index
        self.gateway = IPv4Address(GATEWAY)
        self.warm_up(count)

    def attach(self, i: int) -> float:
        ip = container_ip(i)
        address = IPv4Interface(f"{ip}/16")
        start = time.perf_counter()
        fd = os.open(self.paths[i], os.O_RDONLY | os.O_CLOEXEC)
        try:
            peer = create_veth(
                self.nl, f"veth{i:07x}", "eth0", peer_netns_fd=fd, master=self.bridge,
                mtu=1500, peer_mac=mac_from_ipv4(IPv4Address(ip)),
            )  # fmt: skip
            with Netlink.open(fd) as inner:
                configure_interface(
                    inner, "eth0", addresses=[address], gateway=self.gateway, announce=False,
                    ipv6_link_local=False, index=peer,
                )  # fmt: skip
        finally:
            os.close(fd)
        return time.perf_counter() - start

    def detach(self, i: int) -> float:
        start = time.perf_counter()
        delete_link(self.nl, f"veth{i:07x}")
        return time.perf_counter() - start


class CliMethod(Method):
    """`dockline network connect|disconnect bridge --pid PID`, a new process each time."""

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("cli")
        self.env = dockline_env(lab)
        self.pids = lab.holders(count + 1)
        self.warm_up(count)

    def _cli(self, verb: str, i: int) -> float:
        argv = [str(BIN / "dockline"), "network", verb, "bridge", "--pid", str(self.pids[i])]
        return self._run(self.host, argv, f"dockline network {verb}", env=self.env)

    def attach(self, i: int) -> float:
        return self._cli("connect", i)

    def detach(self, i: int) -> float:
        return self._cli("disconnect", i)


class InterpreterMethod(Method):
    """The CLI's floor: the interpreter that `bin/dockline` names on its first line, started in
    a host namespace of its own to run nothing (`python -c pass`), for attach and detach alike.
    What `network connect` takes above it is dockline's own (imports and command); against
    the CNI plugin it shows how much of "within 2x" the interpreter's start alone uses up."""

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("py")
        self.argv = [interpreter_of(BIN / "dockline"), "-c", "pass"]
        self.env = bench_env()
        self.warm_up(count)

    def attach(self, i: int) -> float:
        return self._run(self.host, self.argv, "python -c pass", env=self.env)

    def detach(self, i: int) -> float:
        return self.attach(i)


def interpreter_of(script: os.PathLike[str]) -> str:
    """The interpreter on a script's `#!` line (pip writes the venv's there)."""
    with open(script, "rb") as f:
        first = f.readline().decode()
    if not first.startswith("#!"):
        raise RuntimeError(f"{script} has no #! line")
    return first[2:].split()[0]


class DocklineCniMethod(Method):
    """`dockline-cni` driven as a CNI runtime drives a plugin (env + config on stdin)."""

    def available(self) -> str:
        if not (BIN / "dockline-cni").exists():
            return "dockline-cni does not exist yet"
        return ""

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("dcni")
        self.paths = lab.netns(count + 1)
        self.env = dockline_env(lab)
        self.conf = json.dumps(
            {"cniVersion": "1.0.0", "name": "bridge", "type": "dockline-cni"}
        ).encode()
        self.warm_up(count)

    def _cni(self, command: str, i: int) -> float:
        env = {**self.env, **cni_env(command, i, self.paths[i], str(BIN))}
        argv = [str(BIN / "dockline-cni")]
        return self._run(self.host, argv, f"dockline-cni {command}", env=env, stdin=self.conf)

    def attach(self, i: int) -> float:
        return self._cni("ADD", i)

    def detach(self, i: int) -> float:
        return self._cni("DEL", i)


class IpBatchMethod(Method):
    """The kernel floor with a CLI: one `ip -batch` in the host (veth with the peer born in
    the container, on the bridge, up) and one `ip -batch` inside, started in the container's
    namespace (lo and eth0 up, address, default route). Detach is one `ip link del`. The
    bridge and the veth are made as dockline makes them (multicast snooping off, one queue
    each way), so the floor does the same kernel work."""

    def available(self) -> str:
        return "" if os.path.exists("/usr/sbin/ip") or os.path.exists("/bin/ip") else "no ip"

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("ip")
        self.paths = lab.netns(count + 1)
        self.host.ip("-batch", "-", stdin=bridge_batch())
        self.warm_up(count)

    def attach(self, i: int) -> float:
        ns = os.path.basename(self.paths[i])
        ip = container_ip(i)
        mac = mac_from_ipv4(IPv4Address(ip))
        one_queue = "numtxqueues 1 numrxqueues 1"  # as dockline asks: no shrinking wait
        outside = f"link add veth{i:07x} up master br0 {one_queue} type veth peer name eth0 "
        outside += f"netns {ns} address {mac} {one_queue}\n"
        inside = (  # no IPv6 link-local address, as dockline on an IPv4-only network
            "link set lo up\nlink set eth0 addrgenmode none\nlink set eth0 up\n"
            f"addr add {ip}/16 dev eth0\nroute add default via {GATEWAY}\n"
        )
        seconds = self._run(self.host, ["ip", "-batch", "-"], "ip", stdin=outside.encode())
        with in_netns(self.paths[i]):  # entered here: `ip -n` would also copy the mount table
            argv = [*self.wrapper, "ip", "-batch", "-"]
            inner = spawn(argv, stdin=inside.encode()).check("ip inside")
        self.spawned.append(inner)
        return seconds + inner.seconds

    def detach(self, i: int) -> float:
        return self._run(self.host, ["ip", "link", "del", f"veth{i:07x}"], "ip link del")


def cni_env(command: str, i: int, netns_path: str, cni_path: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"dlbench{i:08d}",
        "CNI_NETNS": netns_path,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": cni_path,
    }


class CniBridgeMethod(Method):
    """The CNI reference `bridge` plugin with `host-local` IPAM (ipMasq off: dockline
    masquerades per network, not per container, so per-container NAT would not be the same
    work)."""

    def available(self) -> str:
        return "" if os.path.exists(CNI_BRIDGE) else "containernetworking-plugins not installed"

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("cni")
        self.paths = lab.netns(count + 1)
        ipam_dir = lab.dir("host-local")
        self.conf = json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": "dlbench",
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "subnet": f"{SUBNET_PREFIX}.0.0/16",
                    "dataDir": str(ipam_dir),
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ).encode()
        self.base_env = bench_env()
        self.warm_up(count)

    def _cni(self, command: str, i: int) -> float:
        env = {**self.base_env, **cni_env(command, i, self.paths[i], os.path.dirname(CNI_BRIDGE))}
        return self._run(self.host, [CNI_BRIDGE], f"CNI bridge {command}", env=env, stdin=self.conf)

    def attach(self, i: int) -> float:
        return self._cni("ADD", i)

    def detach(self, i: int) -> float:
        return self._cni("DEL", i)


class NetavarkMethod(Method):
    """podman's network backend: `netavark --config DIR setup|teardown NS` with the network
    options on stdin. Addresses are given (podman does IPAM, not netavark); its firewall
    driver (iptables, the only one netavark 1.4 has besides firewalld) adds per-container
    rules, which dockline does not need."""

    def available(self) -> str:
        return "" if os.path.exists(NETAVARK) else "netavark not installed"

    def prepare(self, lab: Lab, count: int) -> None:
        self.host = lab.host("nv")
        self.paths = lab.netns(count + 1)
        self.config = lab.dir("netavark")
        self.warm_up(count)

    def options(self, i: int) -> bytes:
        network = {
            "dns_enabled": False,
            "driver": "bridge",
            "id": "d1" * 32,
            "internal": False,
            "ipv6_enabled": False,
            "name": "dlbench",
            "network_interface": "nv0",
            "subnets": [{"gateway": GATEWAY, "subnet": f"{SUBNET_PREFIX}.0.0/16"}],
        }
        return json.dumps(
            {
                "container_id": f"{i:064x}",
                "container_name": f"c{i}",
                "networks": {
                    "dlbench": {"interface_name": "eth0", "static_ips": [container_ip(i)]}
                },
                "network_info": {"dlbench": network},
            }
        ).encode()

    def _nv(self, command: str, i: int) -> float:
        argv = [NETAVARK, "--config", str(self.config), command, self.paths[i]]
        return self._run(self.host, argv, f"netavark {command}", stdin=self.options(i))

    def attach(self, i: int) -> float:
        return self._nv("setup", i)

    def detach(self, i: int) -> float:
        return self._nv("teardown", i)


def all_methods() -> list[Method]:
    return [
        ApiMethod("api", "dockline Python API"),
        KernelRequestsMethod("netlink", "dockline's netlink alone (in-process floor)"),
        CliMethod("cli", "dockline network connect --pid (CLI)"),
        InterpreterMethod("python", "the interpreter alone (python -c pass)"),
        DocklineCniMethod("dockline_cni", "dockline-cni (CNI plugin)"),
        IpBatchMethod("ip", "ip -batch (kernel floor with a CLI)"),
        CniBridgeMethod("cni", "CNI bridge + host-local plugins"),
        NetavarkMethod("netavark", "netavark setup/teardown"),
    ]


@dataclass
class Outcome:
    """What one method measured, or why it did not."""

    method: Method
    attach: list[float] = field(default_factory=list)
    detach: list[float] = field(default_factory=list)
    skipped: str = ""
    rss_mib: list[float] = field(default_factory=list)  # peak RSS of the attach process(es)


T = TypeVar("T")
BLOCK = 10  # containers per turn


def measure(lab: Lab, methods: list[Method], count: int) -> list[Outcome]:
    """Attach `count` containers with every method, in turns of BLOCK, then detach them all.

    The order of the turns changes from block to block (`turn_order`, rows of a Williams
    design), so that over a cycle every method comes right after every other equally often:
    with a fixed order the API always came right after netavark's processes (and the caches
    they leave cold), `ip -batch` always after the CLI's.
    """
    outcomes = [Outcome(m, skipped=m.available()) for m in methods]
    live = [o for o in outcomes if not o.skipped]
    for o in live:
        guard(o, functools.partial(o.method.prepare, lab, count))
    for phase in ("attach", "detach"):
        for block, start in enumerate(range(0, count, BLOCK)):
            for o in turn_order(live, block):
                for i in range(start, min(start + BLOCK, count)):
                    if o.skipped:
                        break
                    guard(o, functools.partial(_sample, o, phase, i))
                    o.method.spawned.clear()
    return outcomes


def _sample(outcome: Outcome, phase: str, i: int) -> None:
    """Time container `i`'s `phase` ("attach" or "detach") and keep the sample."""
    samples: list[float] = getattr(outcome, phase)
    samples.append(getattr(outcome.method, phase)(i))


def turn_order(items: list[T], block: int) -> list[T]:
    """Row `block` of a Williams design for `items`: over n rows (2n for an odd n) each item
    comes right after each other item equally often. (Rotating one order, as before, kept every
    item's predecessor the same in most blocks.)"""
    n = len(items)
    if n < 2:
        return list(items)
    first = [0] + [(k + 1) // 2 if k % 2 else n - k // 2 for k in range(1, n)]  # 0 1 n-1 2 ...
    row = block % (n if n % 2 == 0 else 2 * n)
    order = [items[(i + row) % n] for i in first]
    return order[::-1] if row >= n else order


TIME = "/usr/bin/time"  # GNU time: the peak RSS of exactly the process it runs
RSS_MARK = "DLBENCH_MAXRSS_KB="


def measure_rss(outcomes: list[Outcome], runs: int) -> None:
    """Peak RSS of the attach process(es) of every CLI method, from GNU time, over `runs`
    attach+detach cycles on already used targets.

    Not from our own `wait4`: a child forked from this (large) Python process carries its
    parent's high-water mark across exec, so ru_maxrss would report ours, not its own.
    """
    for o in outcomes:
        if o.skipped or o.method.in_process:
            continue
        o.method.wrapper = [TIME, "-f", f"{RSS_MARK}%M"]
        try:
            for i in range(runs):
                o.method.attach(i)
                peaks = [_peak_kb(s.stderr) for s in o.method.spawned]
                o.rss_mib.append(max(peaks) / 1024)
                o.method.spawned.clear()
                o.method.detach(i)
                o.method.spawned.clear()
        except Exception as err:
            o.rss_mib = []
            print(f"peak RSS of {o.method.key} not measured: {err}")
        finally:
            o.method.wrapper = []


def _peak_kb(stderr: str) -> int:
    for line in reversed(stderr.splitlines()):
        if line.startswith(RSS_MARK):
            return int(line[len(RSS_MARK) :])
    raise RuntimeError("GNU time printed no peak RSS")
