"""Turn the rows into comparisons, targets, the printed table, results.json and the SVG chart.

A comparison is a dockline row against an anchor row measured in the same run: the ratio of
their p50s. A target is the issue's bar for one number or ratio, reported as met, not met, or
not measured (with the reason). Nothing here measures anything.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from benchmarks.stats import Row


@dataclass(frozen=True)
class Comparison:
    """`row` against `anchor`: ratio of p50s (for throughput, higher is better)."""

    row: str
    anchor: str


@dataclass(frozen=True)
class Target:
    """One of the issue's bars: `value(rows)` against `bar`, met when `ok(value, bar)`."""

    name: str
    text: str
    value: Callable[[dict[str, Row]], float | None]
    bar: float
    at_most: bool = True

    def judge(self, rows: dict[str, Row]) -> dict[str, Any]:
        value = self.value(rows)
        if value is None or math.isnan(value):
            met = None
        else:
            met = value <= self.bar if self.at_most else value >= self.bar
        return {"name": self.name, "target": self.text, "value": value, "met": met}


def p50(rows: dict[str, Row], key: str) -> float | None:
    row = rows.get(key)
    return row.p50 if row is not None and row.ok else None


def ratio(rows: dict[str, Row], key: str, anchor: str) -> float | None:
    a, b = p50(rows, key), p50(rows, anchor)
    return None if a is None or b is None or b == 0 else a / b


def largest(rows: dict[str, Row], prefix: str) -> str:
    """The key among `prefix<N>` rows with the largest N (the bulk row of the biggest run)."""
    sizes = [int(k[len(prefix) :]) for k in rows if k.startswith(prefix) and rows[k].ok]
    return f"{prefix}{max(sizes)}" if sizes else f"{prefix}?"


COMPARISONS = [
    Comparison("attach.api", "attach.ip"),
    Comparison("attach.api", "attach.netlink"),  # dockline's own work on top of the kernel's
    Comparison("attach.netlink", "attach.ip"),
    Comparison("attach.cli", "attach.cni"),
    Comparison("attach.python", "attach.cni"),  # how much of "within 2x" the start alone takes
    Comparison("attach.cli", "attach.python"),
    Comparison("attach.cli", "attach.ip"),
    Comparison("attach.cli", "attach.netavark"),
    Comparison("attach.dockline_cni", "attach.cni"),
    Comparison("detach.api", "detach.ip"),
    Comparison("detach.netlink", "detach.ip"),
    Comparison("detach.cli", "detach.cni"),
    Comparison("detach.cli", "detach.netavark"),
    Comparison("run.dockline", "run.podman"),
    Comparison("run.dockline", "run.docker"),
    Comparison("rss.connect", "rss.cni"),
    Comparison("rss.connect", "rss.python"),
    Comparison("rss.connect", "rss.netavark"),
    Comparison("rss.monitor.dockline", "rss.monitor.podman"),
    Comparison("rss.monitor.dockline", "rss.monitor.docker"),
    Comparison("datapath.dockline", "datapath.bare"),
]

TARGETS = [
    Target("api-attach-ms", "API attach p50 <= 1.5 ms", lambda r: p50(r, "attach.api"), 1.5),
    Target(
        "api-attach-vs-ip",
        "API attach <= 0.3x ip -batch",
        lambda r: ratio(r, "attach.api", "attach.ip"),
        0.3,
    ),
    Target(
        "batched-detach-ms",
        "batched detach <= 2 ms per container (largest bulk N)",
        lambda r: p50(r, largest(r, "bulk.detach_per.")),
        2.0,
    ),
    Target(
        "connect-cli-ms", "network connect (CLI) p50 <= 40 ms", lambda r: p50(r, "attach.cli"), 40
    ),
    Target(
        "connect-cli-vs-cni",
        "network connect (CLI) within 2x of the CNI bridge plugin",
        lambda r: ratio(r, "attach.cli", "attach.cni"),
        2.0,
    ),
    Target(
        "bulk-1000-s",
        "1,000 containers attached through the API in < 3 s",
        lambda r: p50(r, "bulk.attach_total.1000"),
        3.0,
    ),
    Target(
        "run-vs-podman",
        "run --rm -- true >= 5x faster than podman (ratio <= 0.2)",
        lambda r: ratio(r, "run.dockline", "run.podman"),
        0.2,
    ),
    Target("run-ms", "run --rm -- true p50 < 150 ms", lambda r: p50(r, "run.dockline"), 150),
    Target(
        "datapath",
        "data path >= 0.95x bare veth+bridge (median of paired rounds)",
        lambda r: p50(r, "datapath.ratio"),
        0.95,
        at_most=False,
    ),
]


def _bulk_comparisons(rows: dict[str, Row]) -> list[Comparison]:
    """For every bulk N that ran: dockline's totals against ip's doing the same, attach one by
    one and detach as one group delete."""
    sizes = sorted(int(k.rsplit(".", 1)[1]) for k in rows if k.startswith("bulk.attach_total."))
    out = []
    for n in sizes:
        out += [
            Comparison(f"bulk.attach_total.{n}", f"bulk.ip_attach_total.{n}"),
            Comparison(f"bulk.detach_per.{n}", f"bulk.ip_detach_per.{n}"),
        ]
    return out


ANCHOR_NAMES = {
    "ip": "ip -batch",
    "netlink": "netlink alone",
    "cni": "CNI bridge",
    "netavark": "netavark",
    "podman": "podman",
    "docker": "docker",
    "bare": "bare path",
    "monitor.podman": "conmon",
    "monitor.docker": "containerd-shim",
}


def anchor_name(key: str) -> str:
    """A short name for an anchor row, for the table and the chart."""
    if key.startswith("bulk.ip_attach_total."):
        return "ip -batch"
    if key.startswith("bulk.ip_detach_per."):
        return "ip group del"
    return ANCHOR_NAMES.get(key.split(".", 1)[1], key)


def comparisons(rows: dict[str, Row]) -> list[dict[str, Any]]:
    out = []
    for c in COMPARISONS + _bulk_comparisons(rows):
        if c.row in rows and c.anchor in rows:
            value = ratio(rows, c.row, c.anchor)
            out.append(
                {"row": c.row, "anchor": c.anchor, "name": anchor_name(c.anchor), "ratio": value}
            )
    return out


def targets(rows: dict[str, Row]) -> list[dict[str, Any]]:
    return [t.judge(rows) for t in TARGETS]


# -- the printed table ---------------------------------------------------------------------


def _num(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f}{unit}"


def _target_value(value: float | None) -> str:
    """A target's value, with a third decimal below 1: a ratio of 0.301 against a bar of 0.3
    must not print as 0.30 beside NOT MET."""
    if value is not None and not math.isnan(value) and abs(value) < 1:
        return f"{value:.3f}"
    return _num(value)


def _first_measured(compared: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each row's first comparison whose anchor ran (the one the table and chart show)."""
    return {c["row"]: c for c in reversed(compared) if c["ratio"] is not None}


def table(rows: list[Row], compared: list[dict[str, Any]], judged: list[dict[str, Any]]) -> str:
    """The results as a fixed-width text table, then the targets."""
    first = _first_measured(compared)
    lines = [
        f"{'measure':<52} {'p50':>9} {'p95':>9} {'unit':<6} {'n':>5}  {'vs anchor':<26} ratio",
    ]
    for row in rows:
        if not row.ok:
            lines.append(f"{row.label:<52} {'not run: ' + row.skipped}")
            continue
        c = first.get(row.key)
        vs = f"{c['name']:<26} {_num(c['ratio'], 'x')}" if c else ""
        lines.append(
            f"{row.label:<52} {_num(row.p50):>9} {_num(row.p95):>9} {row.unit:<6} {row.n:>5}  {vs}"
        )
    lines += ["", f"{'target':<62} {'value':>10}  met?"]
    for t in judged:
        met = {True: "MET", False: "NOT MET", None: "not measured"}[t["met"]]
        lines.append(f"{t['target']:<62} {_target_value(t['value']):>10}  {met}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
    }


def revision(repo: Path) -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        argv = ["git", "-C", str(repo), *args]
        return subprocess.run(argv, check=False, capture_output=True, text=True).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "src_dirty": bool(git("status", "--porcelain", "src")),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


# -- the chart -------------------------------------------------------------------------------

GROUPS: list[tuple[str, list[str]]] = [
    ("attach one container, p50 (ms, shorter is better)", [
        "attach.api", "attach.netlink", "attach.cli", "attach.python", "attach.dockline_cni",
        "attach.ip", "attach.cni", "attach.netavark",
    ]),
    ("detach one container, p50 (ms)", [
        "detach.api", "detach.netlink", "bulk.detach_per.*", "detach.cli",
        "detach.dockline_cni", "detach.ip", "detach.cni", "detach.netavark",
    ]),
    ("many containers attached, total (s)", [
        "bulk.attach_total.*", "bulk.ip_attach_total.*",
    ]),
    ("run --rm -- true, p50 (ms)", ["run.dockline", "run.podman", "run.docker"]),
    ("peak RSS of one attach process (MiB)", [
        "rss.connect", "rss.python", "rss.ip", "rss.cni", "rss.netavark",
    ]),
    ("per-container monitor RSS (MiB)", [
        "rss.monitor.dockline", "rss.monitor.podman", "rss.monitor.docker",
    ]),
    ("iperf3 TCP container to container (Gbit/s, longer is better)", [
        "datapath.dockline", "datapath.bare",
    ]),
]  # fmt: skip
"""Rows of the chart; `prefix.*` means the row of the largest N that ran."""

WIDTH, LABEL_W, BAR_W, ROW_H, HEAD_H = 960, 340, 400, 20, 30
DOCKLINE_COLOUR, ANCHOR_COLOUR, SKIP_COLOUR = "#1f6fb4", "#a0a0a0", "#8a8a8a"


def _is_dockline(key: str) -> bool:
    return (
        key.rsplit(".", 1)[-1] in ("api", "cli", "dockline_cni", "dockline", "connect")
        or key.startswith("bulk.attach_total")
        or key.startswith("bulk.detach_per")
    )


def _resolve(rows: dict[str, Row], key: str) -> str:
    return largest(rows, key[:-1]) if key.endswith(".*") else key


def svg(rows: dict[str, Row], title: str, compared: list[dict[str, Any]]) -> str:
    """A grouped horizontal bar chart, one group per metric, bars scaled within their group;
    a dockline bar carries its ratio to its first anchor."""
    first = _first_measured(compared)
    parts: list[str] = []
    y = 40
    for heading, keys in GROUPS:
        resolved = [_resolve(rows, k) for k in keys]
        present = [rows[k] for k in resolved if k in rows]
        if not present:
            continue
        parts.append(f'<text x="10" y="{y + 18}" class="h">{escape(heading)}</text>')
        y += HEAD_H
        top = max((r.p50 for r in present if r.ok), default=1.0) or 1.0
        for row in present:
            parts.append(_bar(row, y, top, first.get(row.key)))
            y += ROW_H
        y += 8
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y + 10}" '
        f'viewBox="0 0 {WIDTH} {y + 10}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="12">'
        "<style>.h{font-weight:bold;font-size:13px}.s{fill:#8a8a8a;font-style:italic}</style>"
        f'<rect width="{WIDTH}" height="{y + 10}" fill="white"/>'
        f'<text x="10" y="24" font-size="15" font-weight="bold">{escape(title)}</text>'
    )
    return head + "".join(parts) + "</svg>\n"


def _short(label: str) -> str:
    """The row's label without the metric in front (the group heading says it)."""
    head, sep, rest = label.partition(": ")
    return rest if sep and len(head) < 28 and not head.startswith("bulk") else label


def _bar(row: Row, y: int, top: float, comparison: dict[str, Any] | None) -> str:
    label = f'<text x="20" y="{y + 14}">{escape(_short(row.label)[:50])}</text>'
    if not row.ok:
        reason = escape(f"not run: {row.skipped}"[:80])
        return label + f'<text x="{LABEL_W}" y="{y + 14}" class="s">{reason}</text>'
    width = max(1.0, BAR_W * row.p50 / top)
    colour = DOCKLINE_COLOUR if _is_dockline(row.key) else ANCHOR_COLOUR
    value = f"{_num(row.p50)} {row.unit}"
    if comparison and comparison["ratio"] is not None:
        value += f"  ({_num(comparison['ratio'])}x {comparison['name']})"
    value = escape(value)
    rect = f'<rect x="{LABEL_W}" y="{y + 3}" width="{width:.1f}" height="{ROW_H - 6}" '
    rect += f'fill="{colour}"/>'
    text = f'<text x="{LABEL_W + width + 6:.1f}" y="{y + 14}">{value}</text>'
    return label + rect + text
