"""Diagnostics behind the benchmark's unmet targets: where the time goes (not part of run.py).

    .venv/bin/python benchmarks/diagnose.py growth   # why attach cost grows with N
    .venv/bin/python benchmarks/diagnose.py cli      # what a `network connect` spends

`growth` attaches 1,000 containers through the API two ways: dockline as is (IPv4-only, so its
`eth0`s get no IPv6 link-local address, and a MAC derived from the IP is not announced), and
with every attach announced by a gratuitous ARP (`configure_interface(announce=True)`, what
dockline did before `bf83c65` and still does for a `--mac-address`). The second patches dockline
in this process only: it shows what the ARP each new port floods to the bridge costs.
`cli` times, as new processes in a host namespace: the bare interpreter, the interpreter plus
dockline's imports for `network connect`, and the whole `network connect`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attach import dockline_env, engine_in
from benchmarks.lab import BIN, Lab, compile_bytecode, spawn
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


if __name__ == "__main__":
    {"growth": growth, "cli": cli}[sys.argv[1] if len(sys.argv) > 1 else "cli"]()
