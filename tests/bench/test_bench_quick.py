"""CI's short benchmark: `benchmarks/run.py --quick`, failing only when a ratio to an anchor
measured in the same run crosses its bar by a wide margin. Never on absolute times: a slower or
busier machine slows dockline and its anchor alike.

The core bars need only iproute2 (the `ip -batch` anchor); a bar whose anchor is not installed
(the CNI plugins, podman) is skipped and says why. A bar that fails is measured once more (that
section only) and judged on the better of the two, so one noisy moment does not fail CI while a
real regression, which fails both times, still does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "benchmarks" / "run.py"


@dataclass(frozen=True)
class Bar:
    """p50(row) / p50(anchor) must stay <= limit; `sections` measure both rows."""

    row: str
    anchor: str
    limit: float
    sections: str
    what: str


# The targets are tighter (see docs/BENCHMARKS.md); these bars catch regressions.
BARS = [
    Bar("attach.api", "attach.ip", 0.6, "attach", "API attach vs ip -batch (target 0.3x)"),
    Bar(
        "bulk.detach_per.100",
        "bulk.ip_detach_per.100",
        2.0,
        "bulk",
        "batched detach vs ip's group delete (0.8-1.2x; one by one would be ~25x)",
    ),
    Bar("attach.cli", "attach.cni", 6.0, "attach", "network connect CLI vs CNI bridge plugin"),
    Bar("run.dockline", "run.podman", 0.4, "run", "run --rm -- true vs podman run --rm"),
]


def run_quick(out: Path, sections: str | None = None) -> dict[str, Any]:
    argv = [sys.executable, str(RUN), "--quick", "--no-install", "--out", str(out)]
    if sections:
        argv += ["--sections", sections]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"run.py exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    return results


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    if os.geteuid() != 0:
        pytest.skip("the benchmarks need root (network namespaces)")
    out = tmp_path_factory.mktemp("bench")
    return run_quick(out), out


def rows_of(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in results["rows"]}


def ratio(rows: dict[str, dict[str, Any]], row: str, anchor: str) -> float:
    return float(rows[row]["p50"]) / float(rows[anchor]["p50"])


@pytest.mark.parametrize("bar", BARS, ids=lambda b: b.row)
def test_ratio_within_bar(quick: tuple[dict[str, Any], Path], tmp_path: Path, bar: Bar) -> None:
    results, out = quick
    rows = rows_of(results)
    if rows[bar.anchor]["skipped"]:
        pytest.skip(f"anchor {bar.anchor} not run: {rows[bar.anchor]['skipped']}")
    assert not rows[bar.row]["skipped"], f"{bar.row} not run: {rows[bar.row]['skipped']}"
    first = ratio(rows, bar.row, bar.anchor)
    if first <= bar.limit:
        return
    again = rows_of(run_quick(tmp_path, bar.sections))  # once more, that section only
    best = min(first, ratio(again, bar.row, bar.anchor))
    table = (out / "table.txt").read_text()
    assert best <= bar.limit, (
        f"{bar.what}: {first:.2f}x, then {best:.2f}x; bar {bar.limit}x\n{table}"
    )


# The data path's paired ratio (dockline / bare veth+bridge) must stay above this; the target is
# 0.95 (full runs measure 0.96-0.97), and losing the fast path (say, a rule per packet that
# walks every container) costs far more than 0.15.
DATAPATH_FLOOR = 0.8


def test_datapath_ratio_above_floor(quick: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    results, out = quick
    row = rows_of(results)["datapath.ratio"]
    if row["skipped"]:
        pytest.skip(f"data path not run: {row['skipped']}")
    first = float(row["p50"])
    if first >= DATAPATH_FLOOR:
        return
    again = rows_of(run_quick(tmp_path, "datapath"))["datapath.ratio"]  # once more, that only
    best = max(first, float(again["p50"] or 0.0))
    table = (out / "table.txt").read_text()
    assert best >= DATAPATH_FLOOR, (
        f"data path ratio {first:.3f}, then {best:.3f}; floor {DATAPATH_FLOOR}\n{table}"
    )


def test_nothing_left_behind(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    assert results["leftovers"] == []


def test_every_row_measured_or_says_why(quick: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick
    for row in results["rows"]:
        assert row["skipped"] or (row["p50"] is not None and row["n"] > 0), row
    targets = {t["name"] for t in results["targets"]}
    assert {"api-attach-vs-ip", "connect-cli-ms", "run-vs-podman", "datapath"} <= targets


def test_outputs_written(quick: tuple[dict[str, Any], Path]) -> None:
    _, out = quick
    svg = ET.parse(out / "benchmarks.svg").getroot()
    assert svg.tag.endswith("svg")
    assert "attach one container" in (out / "benchmarks.svg").read_text()
    assert "target" in (out / "table.txt").read_text()


def test_the_in_process_floor_is_under_the_api(quick: tuple[dict[str, Any], Path]) -> None:
    """`attach.netlink` sends the API's kernel requests with nothing around them: if it is not
    the cheaper of the two, it is not the floor it claims to be (the API measures 1.5x it)."""
    results, _ = quick
    rows = rows_of(results)
    assert not rows["attach.netlink"]["skipped"], rows["attach.netlink"]["skipped"]
    assert rows["attach.netlink"]["p50"] < rows["attach.api"]["p50"], rows["attach.netlink"]
    compared = {(c["row"], c["anchor"]) for c in results["comparisons"]}
    assert ("attach.api", "attach.netlink") in compared


def test_the_interpreter_floor_is_under_the_cli(quick: tuple[dict[str, Any], Path]) -> None:
    """`attach.python` starts the interpreter that `bin/dockline` names, to do nothing: the
    CLI's floor. If the CLI is not slower, the row is not timing that interpreter's start."""
    results, _ = quick
    rows = rows_of(results)
    assert not rows["attach.python"]["skipped"], rows["attach.python"]["skipped"]
    assert rows["attach.python"]["p50"] < rows["attach.cli"]["p50"], rows["attach.python"]
    compared = {(c["row"], c["anchor"]) for c in results["comparisons"]}
    assert {("attach.cli", "attach.python"), ("attach.python", "attach.cni")} <= compared


def test_ratio_targets_print_three_decimals(quick: tuple[dict[str, Any], Path]) -> None:
    """A ratio of 0.301 against a bar of 0.3 must not print as 0.30 beside NOT MET."""
    _, out = quick
    line = next(ln for ln in (out / "table.txt").read_text().splitlines() if "0.3x ip -batch" in ln)
    value = line.split("ip -batch", 1)[1].split()[0]  # then MET, NOT MET or not measured
    assert len(value.partition(".")[2]) == 3, line
