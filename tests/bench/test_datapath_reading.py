"""How the data path benchmark reads one iperf3 run (benchmarks/datapath.py `throughput_of`),
checked on a real iperf3 report: a short run over loopback in a throwaway namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nslab import TestNetns, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.datapath import INTERVAL_S, throughput_of

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("iperf3") is None, reason="needs root and iperf3"
)


def iperf3_report(ns: TestNetns) -> dict[str, Any]:
    """Two seconds of TCP over `lo` in `ns`, the first omitted, as the benchmark runs it."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, "iperf3", "--server", "--one-off", "--port", "5299"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: bool(ns.run("ss", "-Hltn", "sport = :5299").stdout), 10, "iperf3 -s")
        client = ns.run(
            "iperf3", "--client", "127.0.0.1", "--port", "5299", "--json", "--time", "2",
            "--omit", "1", "--interval", str(INTERVAL_S),
        )  # fmt: skip
        report: dict[str, Any] = json.loads(client.stdout)
        return report
    finally:
        server.kill()
        server.wait()


def test_reads_the_intervals_after_the_omitted_second(
    netns_factory: Callable[[], TestNetns],
) -> None:
    report = iperf3_report(netns_factory())
    kept = [i["sum"]["bits_per_second"] / 1e9 for i in report["intervals"]
            if not i["sum"].get("omitted")]  # fmt: skip
    assert len(kept) >= 6, "2 s at 0.25 s intervals, after the omitted second"
    got = throughput_of(report)
    assert min(kept) <= got.undisturbed <= max(kept)
    assert got.undisturbed >= sorted(kept)[len(kept) // 2], "an upper percentile, not the median"
    assert got.mean == pytest.approx(report["end"]["sum_received"]["bits_per_second"] / 1e9)


def test_a_report_without_intervals_is_an_error() -> None:
    with pytest.raises(ValueError, match="no intervals"):
        throughput_of({"intervals": [{"sum": {"omitted": True, "bits_per_second": 1e9}}],
                       "end": {"sum_received": {"bits_per_second": 1e9}}})  # fmt: skip
