"""The data path: iperf3 TCP throughput container -> container through dockline's bridge and
rules, as a ratio of a bare veth + bridge path (made with `ip`, no nftables rules at all).

Both worlds are built the same way apart from that: two container namespaces on one bridge in a
host namespace of their own, MTU 1500, the bridge and veths made as dockline makes them
(multicast snooping off, one queue each way, no IPv6 link-local address on `eth0`). Runs
alternate between the two worlds so drift in the machine's load hits both: each round runs both
worlds back to back (in alternating order), and the ratio reported is the median of the rounds'
ratios, so a busy moment weighs on both sides of one ratio instead of on one side of the
comparison.

A round's throughput is the 90th percentile of its 0.25-s intervals, not the whole run's mean:
on this VM one stream has dips to half speed for 0.25-1 s at random moments (interference from
outside the guest; they show within one connection too), which only ever lower a number. The
upper percentile is the path's undisturbed speed and halves the paired ratio's spread per round
(SD 0.05-0.12 against 0.11-0.19 from whole-run means, measured on the same rounds). The
whole-run means are kept too (`mean_ratios`), and both are in results.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from benchmarks.attach import GATEWAY, container_ip, engine_in
from benchmarks.lab import Host, Lab, in_netns, spawn, wait_until
from benchmarks.stats import percentile

PORT = 5201
INTERVAL_S = 0.25  # iperf3's reporting interval: short enough to see the dips, long enough to
#                    hold many 64 KiB segments
UNDISTURBED_PERCENTILE = 90


@dataclass
class World:
    """Two containers on one bridge: the server's address and the namespaces' paths."""

    label: str
    server_ip: str
    server_ns: str
    client_ns: str
    bridge_nf: str = ""  # net.bridge.bridge-nf-call-iptables in its host namespace


@dataclass(frozen=True)
class Throughput:
    """One iperf3 run, in Gbit/s: its undisturbed speed (an upper percentile of its intervals)
    and its whole-run mean at the receiver."""

    undisturbed: float
    mean: float


@dataclass
class DataPathResult:
    dockline: list[Throughput] = field(default_factory=list)  # one per round
    bare: list[Throughput] = field(default_factory=list)
    skipped: str = ""
    bridge_nf: str = ""  # bridge-nf-call-iptables where dockline runs ("1": through its rules)

    @property
    def ratios(self) -> list[float]:
        """dockline / bare for each round, of undisturbed speeds (the reported ratio)."""
        return _ratios([t.undisturbed for t in self.dockline], [t.undisturbed for t in self.bare])

    @property
    def mean_ratios(self) -> list[float]:
        """dockline / bare for each round, of whole-run means (noisier; kept to compare)."""
        return _ratios([t.mean for t in self.dockline], [t.mean for t in self.bare])


def _ratios(dockline: list[float], bare: list[float]) -> list[float]:
    return [d / b for d, b in zip(dockline, bare, strict=True) if b > 0]


def available() -> str:
    return "" if shutil.which("iperf3") else "iperf3 not installed"


def dockline_world(lab: Lab) -> World:
    return dockline_world_and_host(lab)[0]


def dockline_world_and_host(lab: Lab) -> tuple[World, Host]:
    """Two containers attached by dockline, and the host namespace holding its table."""
    host = lab.host("dpd")
    engine = engine_in(lab, host)
    server, client = lab.netns(2, "dpd")
    endpoint = engine.connect(netns_path=server)
    engine.connect(netns_path=client)
    ip = str(endpoint.addresses[0].ip)
    return World("dockline", ip, server, client, bridge_nf_call_iptables(host)), host


def bridge_nf_call_iptables(host: Host) -> str:
    """Whether bridged IPv4 passes the IP hooks in `host`: "1" or "0" (per namespace), or
    "absent" without br_netfilter. With "1", container-to-container packets pass dockline's
    conntrack and forward chain, the data path's cost (docs/BENCHMARKS.md)."""
    with host.entered():
        try:
            with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
                return f.read().strip()
        except OSError:
            return "absent"


def bare_world(lab: Lab) -> World:
    host: Host = lab.host("dpb")
    server, client = lab.netns(2, "dpb")
    host.ip("link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
    host.ip("addr", "add", f"{GATEWAY}/16", "dev", "br0")
    host.ip("link", "set", "br0", "up")
    for i, path in enumerate((server, client)):
        ns = os.path.basename(path)
        host.ip(
            "link", "add", f"vb{i}", "up", "master", "br0", "numtxqueues", "1", "numrxqueues", "1",
            "type", "veth", "peer", "name", "eth0", "netns", ns, "numtxqueues", "1",
            "numrxqueues", "1",
        )  # fmt: skip
        inside = (
            f"link set lo up\nlink set eth0 addrgenmode none\naddr add {container_ip(i)}/16 "
            f"dev eth0\nlink set eth0 up\nroute add default via {GATEWAY}\n"
        )
        spawn(["ip", "-n", ns, "-batch", "-"], stdin=inside.encode()).check("ip -n")
    return World("bare", container_ip(0), server, client)


def pin(cpu: int) -> list[str]:
    """`taskset` the client and the server onto CPUs of their own, when there are two: fewer
    migrations, steadier numbers (the same for both worlds)."""
    count = os.cpu_count() or 1
    return (
        ["taskset", "--cpu-list", str(cpu % count)]
        if count >= 2 and shutil.which("taskset")
        else []
    )


def start_server(lab: Lab, world: World) -> None:
    """An iperf3 server in the server namespace, stopped when the lab closes."""
    with in_netns(world.server_ns):
        lab.daemon([*pin(1), "iperf3", "--server", "--bind", world.server_ip, "--port", str(PORT)])
    wait_until(lambda: _listening(world.server_ns), 10, f"iperf3 server in {world.label}")


def _listening(path: str) -> bool:
    """Whether a socket listens on PORT in the namespace (its own /proc/net/tcp view)."""
    with in_netns(path), open("/proc/thread-self/net/tcp") as f:
        return any(f":{PORT:04X} " in line and line.split()[3] == "0A" for line in f)


def run_client(world: World, seconds: float) -> Throughput:
    """One iperf3 TCP run from the client namespace (its first second omitted: slow start)."""
    argv = [*pin(0), "iperf3", "--client", world.server_ip, "--port", str(PORT), "--json"]
    argv += ["--time", str(seconds), "--omit", "1", "--interval", str(INTERVAL_S)]
    with in_netns(world.client_ns):
        result = spawn(argv).check("iperf3 client")
    return throughput_of(json.loads(result.stdout))


def throughput_of(report: dict[str, Any]) -> Throughput:
    """Read an iperf3 `--json` report: intervals after the omitted ones, and the receiver's sum."""
    speeds = [
        float(interval["sum"]["bits_per_second"]) / 1e9
        for interval in report["intervals"]
        if not interval["sum"].get("omitted")
    ]
    if not speeds:
        raise ValueError("iperf3 reported no intervals")
    mean = float(report["end"]["sum_received"]["bits_per_second"]) / 1e9
    return Throughput(percentile(speeds, UNDISTURBED_PERCENTILE), mean)


def measure(lab: Lab, runs: int, seconds: float) -> DataPathResult:
    result = DataPathResult(skipped=available())
    if result.skipped:
        return result
    try:
        worlds = [dockline_world(lab), bare_world(lab)]
        result.bridge_nf = worlds[0].bridge_nf
        for world in worlds:
            start_server(lab, world)
        for i in range(runs):
            order = worlds if i % 2 == 0 else worlds[::-1]
            got = {w.label: run_client(w, seconds) for w in order}
            result.dockline.append(got["dockline"])
            result.bare.append(got["bare"])
    except (subprocess.SubprocessError, RuntimeError, OSError, ValueError, KeyError) as err:
        result.skipped = f"failed: {type(err).__name__}: {err}"[:300]
    return result
