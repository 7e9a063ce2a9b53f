"""dockline's benchmark suite, one command: dockline and its anchors in the same run.

    .venv/bin/python benchmarks/run.py            # as root; full run, ~4.5 minutes
    .venv/bin/python benchmarks/run.py --quick    # as root; the CI version, ~40 s

Prints a table (p50, p95, ratio against the anchor, targets met or not) and writes
`OUT/results.json`, `OUT/table.txt` and the SVG chart (`docs/benchmarks.svg` for a full run,
`OUT/benchmarks.svg` for --quick). Everything runs in throwaway network namespaces named
`dlbench-*`, removed at the end even on failure or SIGTERM (and, after a SIGKILL, by the next
run); the run fails if anything is left behind.
See docs/BENCHMARKS.md for what each row means.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks import anchors, attach, bulk, containers, datapath, report
from benchmarks.lab import REPO, Lab, compile_bytecode, leftovers, stop_on_signals, sweep_stale
from benchmarks.stats import Row, percentile

SECTIONS = ("attach", "bulk", "run", "datapath")


@dataclass(frozen=True)
class Settings:
    containers: int  # per-container attach/detach samples per method
    rss_runs: int  # GNU-time runs per CLI method for peak RSS (0: skip)
    bulk_sizes: tuple[int, ...]
    bulk_rounds: int  # rounds per N of dockline's bulk and ip's, in alternating order
    ip_bulk_max: int  # largest N for the ip anchor's bulk attach
    ip_teardown_max: int  # largest N for its teardown (one group delete)
    runs: int  # run --rm samples per runtime
    runtimes: tuple[str, ...]
    monitors: int  # detached containers per runtime for the monitor's RSS (0: skip)
    datapath_runs: int  # iperf3 runs per world (0: skip)
    datapath_seconds: float
    methods: tuple[str, ...] = (
        "api", "netlink", "cli", "python", "dockline_cni", "ip", "cni", "netavark",
    )  # fmt: skip


FULL = Settings(
    containers=100,
    rss_runs=5,
    bulk_sizes=(10, 100, 1000),
    bulk_rounds=3,
    ip_bulk_max=1000,
    ip_teardown_max=1000,
    runs=20,
    runtimes=("dockline", "podman", "docker"),
    monitors=5,
    datapath_runs=24,  # paired rounds: the ratio's SD per round is 0.05-0.12 here
    datapath_seconds=3.0,  # 12 intervals after the omitted first second
)
QUICK = Settings(
    containers=20,
    rss_runs=0,
    bulk_sizes=(10, 100),
    bulk_rounds=2,
    ip_bulk_max=100,
    ip_teardown_max=100,
    runs=5,
    runtimes=("dockline", "podman"),
    monitors=0,
    datapath_runs=4,  # enough for CI's wide bar (0.8x; the rounds' SD is 0.05-0.12)
    datapath_seconds=2.0,
)


class Progress:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        print(f"[{time.monotonic() - self.start:6.1f} s] {what} ...", file=sys.stderr, flush=True)
        yield


# -- sections: each returns its rows ---------------------------------------------------------


def attach_rows(lab: Lab, s: Settings) -> list[Row]:
    methods = [m for m in attach.all_methods() if m.key in s.methods]
    outcomes = attach.measure(lab, methods, s.containers)
    if s.rss_runs:
        if anchors.missing(["time"]):
            rss_skip = anchors.why_missing("time")
        else:
            attach.measure_rss(outcomes, s.rss_runs)
            rss_skip = ""
    else:
        rss_skip = "not measured in --quick"
    rows: list[Row] = []
    for phase in ("attach", "detach"):
        for o in outcomes:
            key, label = f"{phase}.{o.method.key}", f"{phase}: {o.method.label}"
            samples = o.attach if phase == "attach" else o.detach
            rows.append(
                Row.skip(key, label, "ms", o.skipped) if o.skipped else Row.ms(key, label, samples)
            )
    for o in outcomes:
        if o.method.in_process:
            continue
        key = "rss.connect" if o.method.key == "cli" else f"rss.{o.method.key}"
        label = f"peak RSS: {o.method.label}"
        reason = o.skipped or rss_skip or ("" if o.rss_mib else "not measured")
        rows.append(
            Row.skip(key, label, "MiB", reason) if reason else Row.of(key, label, "MiB", o.rss_mib)
        )
    return rows


def bulk_rows(lab: Lab, s: Settings) -> list[Row]:
    rows: list[Row] = []
    for n in s.bulk_sizes:
        ours, ip = bulk_rounds(lab, s, n)
        rows += dockline_bulk_rows(n, ours) + ip_bulk_rows(s, n, ip)
    return rows


def bulk_rounds(
    lab: Lab, s: Settings, n: int
) -> tuple[list[bulk.BulkResult], list[bulk.BulkResult]]:
    """`s.bulk_rounds` rounds of dockline's bulk and ip's, in alternating order: the kernel
    goes on cleaning up a round's namespaces and veths after the teardown (in its workqueues),
    which slows whichever runs next."""
    ours: list[bulk.BulkResult] = []
    ip: list[bulk.BulkResult] = []
    for round_ in range(s.bulk_rounds):
        order = ("dockline", "ip") if round_ % 2 == 0 else ("ip", "dockline")
        for who in order:
            if who == "dockline":
                with lab.section():
                    ours.append(bulk.dockline_bulk(lab, n))
            elif n <= s.ip_bulk_max:
                with lab.section():
                    ip.append(bulk.ip_bulk(lab, n, teardown=n <= s.ip_teardown_max))
    return ours, ip


def dockline_bulk_rows(n: int, results: list[bulk.BulkResult]) -> list[Row]:
    """Totals are one sample per round; per-container attach times are pooled over rounds."""
    tenth = max(1, n // 10)
    per = Row.ms(
        f"bulk.attach_per.{n}",
        f"bulk N={n}: API attach, per container",
        [t for r in results for t in r.attach],
    )
    per.extra = {
        "first_tenth_p50_ms": Row.ms("", "", [t for r in results for t in r.attach[:tenth]]).p50,
        "last_tenth_p50_ms": Row.ms("", "", [t for r in results for t in r.attach[-tenth:]]).p50,
        "teardown_failures": sum(r.failures for r in results),
    }
    totals = ", ".join(f"{r.teardown_total:.3f}" for r in results)
    return [
        Row.of(
            f"bulk.attach_total.{n}",
            f"bulk N={n}: API attach, total",
            "s",
            [r.attach_total for r in results],
        ),
        per,
        Row.of(
            f"bulk.detach_per.{n}",
            f"bulk N={n}: API batched detach, per container",
            "ms",
            [r.teardown_total * 1000 / n for r in results],
            note=f"one Engine.detach of {n} endpoints per round: {totals} s",
        ),
    ]


def ip_bulk_rows(s: Settings, n: int, results: list[bulk.BulkResult]) -> list[Row]:
    keys = (
        (f"bulk.ip_attach_total.{n}", f"bulk N={n}: ip -batch attach, total", "s"),
        (f"bulk.ip_detach_per.{n}", f"bulk N={n}: ip -batch group delete, per container", "ms"),
    )
    if n > s.ip_bulk_max:
        return [
            Row.skip(k, label, unit, f"N > {s.ip_bulk_max} in this mode") for k, label, unit in keys
        ]
    rows = [Row.of(keys[0][0], keys[0][1], "s", [r.attach_total for r in results])]
    if n <= s.ip_teardown_max:
        per = [r.teardown_total * 1000 / n for r in results]
        rows.append(Row.of(keys[1][0], keys[1][1], "ms", per))
    else:
        reason = f"N > {s.ip_teardown_max} in this mode"
        rows.append(Row.skip(keys[1][0], keys[1][1], "ms", reason))
    return rows


def run_rows(lab: Lab, s: Settings) -> list[Row]:
    runtimes = [r for r in containers.all_runtimes() if r.key in s.runtimes]
    outcomes = containers.measure(lab, runtimes, s.runs, s.monitors)
    rows: list[Row] = []
    for o in outcomes:
        key, label = f"run.{o.runtime.key}", o.runtime.label
        rows.append(
            Row.skip(key, label, "ms", o.skipped) if o.skipped else Row.ms(key, label, o.runs)
        )
    for o in outcomes:
        key = f"rss.monitor.{o.runtime.key}"
        label = f"RSS per running container: {o.runtime.monitor}"
        reason = o.skipped or ("" if o.rss else "not measured in --quick")
        if reason:
            rows.append(Row.skip(key, label, "MiB", reason))
        else:
            row = Row.of(key, label, "MiB", o.rss)
            row.extra = {"pss_mib_p50": Row.of("", "", "", o.pss).p50}
            rows.append(row)
    return rows


def datapath_rows(lab: Lab, s: Settings) -> list[Row]:
    keys = (
        ("datapath.dockline", "iperf3 c<->c, dockline's bridge and rules (undisturbed)", "Gbit/s"),
        ("datapath.bare", "iperf3 c<->c, bare veth+bridge, no rules (undisturbed)", "Gbit/s"),
        ("datapath.ratio", "iperf3 dockline / bare, median of paired rounds", "x"),
    )
    reason = ""
    if not s.datapath_runs:
        reason = "not measured in --quick"
    elif anchors.missing(["iperf3"]):
        reason = anchors.why_missing("iperf3")
    r = datapath.DataPathResult()
    if not reason:
        r = datapath.measure(lab, s.datapath_runs, s.datapath_seconds)
        reason = r.skipped
    if reason:
        return [Row.skip(k, label, unit, reason) for k, label, unit in keys]
    undisturbed = ([t.undisturbed for t in r.dockline], [t.undisturbed for t in r.bare])
    samples = (*undisturbed, r.ratios)
    rows = [Row.of(k, label, unit, v) for (k, label, unit), v in zip(keys, samples, strict=True)]
    rows[0].extra = {"whole_run_mean_p50": percentile([t.mean for t in r.dockline], 50)}
    rows[1].extra = {"whole_run_mean_p50": percentile([t.mean for t in r.bare], 50)}
    rows[-1].extra = {
        "bridge_nf_call_iptables": r.bridge_nf,
        "whole_run_mean_ratio_p50": percentile(r.mean_ratios, 50),
    }
    return rows


RUNNERS = {"attach": attach_rows, "bulk": bulk_rows, "run": run_rows, "datapath": datapath_rows}


# -- the command -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="the short CI version (< 60 s)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument(
        "--svg", type=Path, help="chart path (default: docs/benchmarks.svg, or OUT/ with --quick)"
    )
    p.add_argument(
        "--no-install", action="store_true", help="use only the anchors already installed"
    )
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("benchmarks/run.py needs root (network namespaces)", file=sys.stderr)
        return 2
    stop_on_signals()
    swept = sweep_stale()
    if swept:
        print("removed what killed runs left:\n  " + "\n  ".join(swept), file=sys.stderr)
    settings = QUICK if args.quick else FULL
    sections = [x for x in args.sections.split(",") if x]
    progress = Progress()
    install_note = ""
    if not args.no_install:
        wanted = list(anchors.QUICK) if args.quick else list(anchors.PACKAGES)
        with progress.step("installing missing anchors"):
            install_note = anchors.install(wanted)
    compile_bytecode()  # the timed CLIs must not pay for compiling dockline
    started = time.time()
    load = os.getloadavg()
    rows: list[Row] = []
    with Lab() as lab:
        for name in sections:
            with progress.step(f"section {name}"), lab.section():
                rows += RUNNERS[name](lab, settings)
    left = leftovers()
    by_key = {r.key: r for r in rows}
    compared, judged = report.comparisons(by_key), report.targets(by_key)
    text = report.table(rows, compared, judged)
    print(text)
    payload = {
        "mode": "quick" if args.quick else "full",
        "started": started,
        "duration_s": round(time.time() - started, 1),
        "machine": {
            **report.machine(),
            "load_avg_at_start": load,
            "load_avg_at_end": os.getloadavg(),
        },
        "revision": report.revision(REPO),
        "settings": asdict(settings),
        "install": install_note,
        "rows": [r.as_json() for r in rows],
        "comparisons": compared,
        "targets": judged,
        "leftovers": left,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / "results.json", payload)
    (args.out / "table.txt").write_text(text + "\n")
    svg_path = args.svg or (
        args.out / "benchmarks.svg" if args.quick else REPO / "docs" / "benchmarks.svg"
    )
    mode = "quick" if args.quick else "full"
    title = f"dockline vs anchors, p50, same run ({mode}, {os.cpu_count()} CPUs)"
    svg_path.write_text(report.svg(by_key, title, compared))
    print(f"\nwrote {args.out / 'results.json'}, {args.out / 'table.txt'}, {svg_path}")
    if left:
        print("LEFT BEHIND:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
