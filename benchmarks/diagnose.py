"""Diagnostics behind the benchmark's targets: where the time goes (not part of run.py).

    .venv/bin/python benchmarks/diagnose.py growth    # why attach cost grows with N
    .venv/bin/python benchmarks/diagnose.py cli       # what a `network connect` spends
    .venv/bin/python benchmarks/diagnose.py cli phases  # ... phase by phase, in the process
    .venv/bin/python benchmarks/diagnose.py attach    # an API attach, phase by phase
    .venv/bin/python benchmarks/diagnose.py attach processes|sleep|spin  # ... in blocks
    .venv/bin/python benchmarks/diagnose.py datapath  # netfilter's share of the data path (perf)
    .venv/bin/python benchmarks/diagnose.py rules     # what each part of dockline's table costs

`growth` attaches 1,000 containers through the API two ways: dockline as is (IPv4-only, so its
`eth0`s get no IPv6 link-local address, and a MAC derived from the IP is not announced), and
with every attach announced by a gratuitous ARP (`configure_interface(announce=True)`, what
dockline did before `bf83c65` and still does for a `--mac-address`). The second patches dockline
in this process only: it shows what the ARP each new port floods to the bridge costs.
`cli` times, as new processes in a host namespace: the bare interpreter, the interpreter plus
dockline's imports for `network connect`, and the whole `network connect`. `cli phases` runs
`network connect` through `cli_phases.py`, which times its imports, its command and each phase
of the command inside the process (the store's opening, the namespace's checks, planning, the
kernel's requests, the first setns's load of `_ctypes`, the commit), alternating with the real
command, whose time less those is the interpreter's own start.
`attach` times 300 API attaches back to back and, by wrapping dockline's functions in this
process only, each phase of them: what is kernel (the veth's creation, the batch inside the
namespace) and what is dockline's own (the namespace's lookup, planning, the store's commit).
`attach processes|sleep|spin` does the same in blocks of 10 with that between the blocks (other
processes, as the benchmark's other turns; an idle 50 ms; a busy 50 ms), and shows the first
attach of each block apart from the other nine: what the benchmark's turns cost the API.
`datapath` records `perf` (linux-perf) over one iperf3 run in dockline's world and one in the
bare world, and sums the shares of the busy CPU spent in netfilter's functions, by kind. On a
VM whose perf samples on a timer (no hardware counters), work done with interrupts off is
charged to whatever re-enables them (`_raw_spin_unlock_irqrestore` holds ~18%), so these shares
are rough; `rules` measures the same cost as throughput instead.
`rules` keeps one dockline world and one iperf3 server, and swaps dockline's table between
rounds: as is, without its `forward` chain, without its NAT chain, without the table. Each
round runs every variant (in alternating order) and the ratios to "as is" come from the same
connection setup, bridge and ports, so they show what each hook costs and nothing else.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attach import BLOCK, dockline_env, engine_in
from benchmarks.lab import BIN, REPO, Lab, compile_bytecode, spawn, stop_on_signals, sweep_stale
from benchmarks.phases import MARK, PhaseTimer
from benchmarks.stats import percentile

VARIANTS = ("as is", "announce every attach")


def growth(n: int = 1000) -> None:
    from dockline.driver import bridge

    original = bridge.configure_interface  # type: ignore[attr-defined]
    with Lab() as lab:
        for variant in VARIANTS:
            with lab.section():
                if "announce" in variant:
                    bridge.configure_interface = _always_announce(original)  # type: ignore[attr-defined]
                try:
                    _growth_once(lab, n, variant)
                finally:
                    bridge.configure_interface = original  # type: ignore[attr-defined]


def _always_announce(configure: Any) -> Any:
    def announcing(*args: Any, **kwargs: Any) -> Any:
        return configure(*args, **{**kwargs, "announce": True})

    return announcing


def _growth_once(lab: Lab, n: int, variant: str) -> None:
    engine = engine_in(lab, lab.host("grow"))
    paths = lab.netns(n + 1, "g")
    engine.connect(netns_path=paths[n])
    samples = []
    start = time.perf_counter()
    for path in paths[:n]:
        t0 = time.perf_counter()
        engine.connect(netns_path=path)
        samples.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    fifth = n // 5
    p50s = [percentile(samples[k * fifth : (k + 1) * fifth], 50) * 1000 for k in range(5)]
    print(
        f"{variant:<16} total {total:6.2f} s   p50 per fifth (ms): "
        + " ".join(f"{p:5.2f}" for p in p50s)
    )


def cli(runs: int = 20) -> None:
    compile_bytecode()
    python = str(BIN / "python")
    imports = (
        "import dockline.cli.main, dockline.cli.networks, dockline.engine, dockline.store.sqlite"
    )
    with Lab() as lab:
        host = lab.host("cli")
        env = dockline_env(lab)
        pids = lab.holders(runs + 1)
        steps = {
            "python -c pass": [python, "-c", "pass"],
            "python -I -S -c pass": [python, "-I", "-S", "-c", "pass"],
            "python + connect's imports": [python, "-c", imports],
        }
        timings: dict[str, list[float]] = {
            k: [] for k in [*steps, "network connect", "network disconnect"]
        }
        with host.entered():
            spawn(
                [str(BIN / "dockline"), "network", "connect", "bridge", "--pid", str(pids[runs])],
                env=env,
            )
            for i in range(runs):
                for name, argv in steps.items():
                    timings[name].append(spawn(argv, env=env).seconds)
                for verb in ("connect", "disconnect"):
                    argv = [str(BIN / "dockline"), "network", verb, "bridge", "--pid", str(pids[i])]
                    timings[f"network {verb}"].append(spawn(argv, env=env).check(verb).seconds)
        for name, samples in timings.items():
            print(f"{name:<30} p50 {percentile(samples, 50) * 1000:6.1f} ms")


def cli_phases(runs: int = 30) -> None:
    """`network connect` phase by phase, each run a new process (`cli_phases.py`), alternating
    with the real command (`bin/dockline`) on other targets: the real one's time less the
    phased one's imports and command is the interpreter's own start."""
    compile_bytecode()
    connect = ["network", "connect", "bridge", "--pid"]
    phased_argv = [str(BIN / "python"), str(REPO / "benchmarks" / "cli_phases.py"), *connect]
    reports: list[dict[str, float]] = []
    whole: list[float] = []
    with Lab() as lab:
        host = lab.host("clip")
        env = dockline_env(lab)
        pids = lab.holders(2 * runs + 1)
        with host.entered():  # the first connect makes the bridge and the firewall: not timed
            spawn([str(BIN / "dockline"), *connect, str(pids[-1])], env=env).check("connect")
            for i in range(runs):
                phased = spawn([*phased_argv, str(pids[2 * i])], env=env).check("connect")
                reports.append(json.loads(phased.stderr.rsplit(MARK, 1)[1]))
                real = spawn([str(BIN / "dockline"), *connect, str(pids[2 * i + 1])], env=env)
                whole.append(real.check("connect").seconds)
    p50 = {k: percentile([r[k] for r in reports], 50) * 1000 for k in reports[0]}
    total = percentile(whole, 50) * 1000
    rows = [
        ("network connect, whole", total),
        ("  interpreter start (the rest)", total - p50["imports"] - p50["command"]),
        ("  imports (everything it imports)", p50.pop("imports")),
        ("  the command (parse, run, print)", p50.pop("command")),
        *((f"    {label}", value) for label, value in p50.items()),
    ]
    for label, value in rows:
        print(f"{label:<48} p50 {value:6.2f} ms")


def attach(n: int = 300, *, pause: str = "") -> None:
    """`pause` ("processes", "sleep" or "spin") runs that between blocks of BLOCK attaches, as
    other tools' turns do in the benchmark, and splits each phase into the first attach of a
    block and the others."""
    from dockline import engine as engine_module
    from dockline.driver import bridge
    from dockline.netlink import Netlink
    from dockline.store import sqlite

    timer = PhaseTimer()
    phases = [
        (engine_module, "open_target", "namespace open and checks (open_target)"),
        (engine_module, "get_network", "network (get_network)"),
        (engine_module, "plan_endpoint", "plan: address, MAC, names, rows"),
        (bridge, "create_veth", "kernel: veth pair on the bridge"),
        (Netlink, "open", "socket in the namespace (2 setns)"),
        (bridge, "configure_interface", "kernel: lo, address, eth0 up, route"),
        (sqlite.SqliteStore, "_begin", "store: BEGIN IMMEDIATE"),
        (sqlite.SqliteStore, "_commit", "store: COMMIT"),
    ]
    with Lab() as lab:
        engine = engine_in(lab, lab.host("phase"))
        paths = lab.netns(n + 1, "p")
        engine.connect(netns_path=paths[n])  # the bridge and the firewall, not timed
        for owner, name, label in phases:
            timer.wrap(owner, name, label)
        totals = []
        try:
            for i, path in enumerate(paths[:n]):
                if pause and i % BLOCK == 0:
                    PAUSES[pause]()
                start = time.perf_counter()
                engine.connect(netns_path=path)
                totals.append(time.perf_counter() - start)
        finally:
            timer.restore()
    _print_phase("Engine.connect, whole", totals, split=bool(pause))
    for label, samples in timer.samples.items():
        _print_phase(f"  {label}", samples, split=bool(pause))


def _print_phase(label: str, samples: list[float], *, split: bool) -> None:
    line = f"{label:<42} p50 {percentile(samples, 50) * 1000:6.3f} ms"
    if split:
        first = samples[::BLOCK]
        rest = [s for i, s in enumerate(samples) if i % BLOCK]
        line += f"  first of block {percentile(first, 50) * 1000:6.3f}"
        line += f"  others {percentile(rest, 50) * 1000:6.3f}"
    print(line)


def _other_processes() -> None:
    """What runs between the API's turns in the benchmark, roughly: process starts."""
    for _ in range(4):
        subprocess.run([sys.executable, "-c", "import json, sqlite3"], check=True)
    for _ in range(6):
        subprocess.run(["ip", "link", "show"], check=True, stdout=subprocess.DEVNULL)


def _spin(seconds: float = 0.05) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _sleep() -> None:
    time.sleep(0.05)


PAUSES: dict[str, Callable[[], None]] = {
    "processes": _other_processes,
    "sleep": _sleep,
    "spin": _spin,
}


# Kernel symbols by netfilter's parts (perf's `--sort sym` names, matched by prefix).
NETFILTER_KINDS = {
    "conntrack": ("nf_conntrack", "__nf_conntrack", "nf_ct_", "ipv4_conntrack", "hash_conntrack",
                  "nf_confirm"),
    "nftables": ("nft_", "__nft"),
    "NAT": ("nf_nat",),
    "br_netfilter": ("br_nf_", "nf_bridge"),
    "hook calls": ("nf_hook_slow",),
}  # fmt: skip


def datapath(seconds: int = 4) -> None:
    from benchmarks import datapath as dp

    if shutil.which("perf") is None or shutil.which("iperf3") is None:
        print("needs perf (apt-get install linux-perf) and iperf3")
        return
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        worlds = [dp.dockline_world(lab), dp.bare_world(lab)]
        for world in worlds:
            dp.start_server(lab, world)
        print(f"bridge-nf-call-iptables in dockline's host namespace: {worlds[0].bridge_nf}")
        for world in worlds:
            data = f"{tmp}/{world.label}.data"
            recorder = subprocess.Popen(["perf", "record", "-q", "-a", "-F", "2000", "-o", data])
            time.sleep(0.5)
            gbits = dp.run_client(world, seconds).undisturbed
            recorder.send_signal(signal.SIGINT)
            recorder.wait()
            shares = _netfilter_shares(data)
            parts = "  ".join(f"{kind} {share:4.1f}%" for kind, share in shares.items())
            print(f"{world.label:<9} {gbits:5.1f} Gbit/s   {parts}")


RULE_VARIANTS = {
    "without forward chain": "delete chain inet dockline forward\n",
    "without NAT chain": "delete chain inet dockline postrouting\n",
    "without the table": "delete table inet dockline\n",
}


def rules(rounds: int = 16, seconds: float = 3.0) -> None:
    from benchmarks import datapath as dp
    from dockline.firewall import render_delete

    with Lab() as lab:
        world, host = dp.dockline_world_and_host(lab)
        dp.start_server(lab, world)
        with host.entered():
            table = spawn(["nft", "list", "table", "inet", "dockline"]).check("nft list").stdout
        restore = render_delete() + table
        scripts = {"as is": ""} | RULE_VARIANTS
        speeds: dict[str, list[float]] = {name: [] for name in scripts}
        for i in range(rounds):
            for name in list(scripts) if i % 2 == 0 else list(scripts)[::-1]:
                with host.entered():
                    spawn(["nft", "-f", "-"], stdin=(restore + scripts[name]).encode()).check("nft")
                speeds[name].append(dp.run_client(world, seconds).undisturbed)
        for name, got in speeds.items():
            ratios = [v / base for v, base in zip(got, speeds["as is"], strict=True)]
            print(
                f"{name:<22} {percentile(got, 50):5.1f} Gbit/s   / as is: "
                f"p50 {percentile(ratios, 50):.3f}  SD {statistics.pstdev(ratios):.3f}"
            )


def _netfilter_shares(data: str) -> dict[str, float]:
    """Each kind's share of the busy (non-idle) samples, and netfilter's in all."""
    report = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "sym", "-q", "--stdio"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    symbols: dict[str, float] = {}
    for line in report.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].endswith("%") and fields[1] == "[k]":
            symbols[fields[2]] = symbols.get(fields[2], 0.0) + float(fields[0][:-1])
    idle = sum(v for k, v in symbols.items() if "idle" in k or k.endswith("safe_halt"))
    busy = max(sum(symbols.values()) - idle, 1e-9)
    shares = {
        kind: 100 * sum(v for k, v in symbols.items() if k.startswith(prefixes)) / busy
        for kind, prefixes in NETFILTER_KINDS.items()
    }
    shares["netfilter in all"] = sum(shares.values())
    return shares


if __name__ == "__main__":
    commands = {
        "growth": growth, "cli": cli, "attach": attach, "datapath": datapath, "rules": rules,
    }  # fmt: skip
    name = sys.argv[1] if len(sys.argv) > 1 else "cli"
    if name in ("-h", "--help"):
        sys.exit(print(__doc__.split("\n\n")[1]))
    if name not in commands:
        sys.exit(f"diagnose.py: unknown command {name!r} (one of: {', '.join(commands)})")
    variant = sys.argv[2] if len(sys.argv) > 2 else ""
    if name == "attach" and variant and variant not in PAUSES:
        sys.exit(f"diagnose.py attach: unknown pause {variant!r} (one of: {', '.join(PAUSES)})")
    if name == "cli" and variant not in ("", "phases"):
        sys.exit(f"diagnose.py cli: unknown variant {variant!r} (phases, or nothing)")
    stop_on_signals()
    sweep_stale()
    if name == "attach" and variant:
        attach(pause=variant)
    elif name == "cli" and variant:
        cli_phases()
    else:
        commands[name]()
