"""One `dockline` command, run as `bin/dockline` runs it but with its phases timed.

Started by `diagnose.py cli phases` as a new process in place of `bin/dockline`, with the same
arguments. It first imports what `network connect` imports (timed: nothing else is imported
before, so the interpreter's own modules are all that is already there; the cyclic collector off
and the imports then frozen, as there), then wraps dockline's
functions with `PhaseTimer` and runs `cli.main.entry`, which leaves as always (`os._exit`, no
teardown). The timings go to stderr as its last line, `MARK` and then JSON:
"imports" and "command" (seconds), and each phase's total. The caller times the process from
start to reaped; what is neither imports nor command is the interpreter's own start.
"""

import time

STARTED = time.perf_counter()

import gc  # noqa: E402 - after the clock starts, as every import here
import os  # noqa: E402
import sys  # noqa: E402

gc.disable()  # as bin/dockline: the collector is off for the imports, which are then frozen

from dockline import engine, netns, store  # noqa: E402
from dockline.cli import main as cli  # noqa: E402
from dockline.cli.grammar import Args  # noqa: E402 - imported by cli.main already
from dockline.driver import bridge  # noqa: E402
from dockline.netlink import Netlink  # noqa: E402
from dockline.store import sqlite  # noqa: E402

cli.commands_of("networks")
gc.freeze()
gc.enable()
IMPORTED = time.perf_counter()

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.phases import MARK, PhaseTimer  # noqa: E402

PARSE = "parse"  # counted into "command"
# (owner, function, label): where `network connect` spends its time, in call order
PHASES = (
    (store, "open_store", "store: open (connect, settings, log read)"),
    (engine, "open_target", "namespace open and checks (open_target)"),
    (engine.Engine, "check_not_host", "not the host's or the initial namespace"),
    (engine, "get_network", "network (get_network)"),
    (netns, "link_netns", "/run/netns/<pid> link"),
    (engine, "plan_endpoint", "plan: address, MAC, names, rows"),
    (engine.Engine, "_bridge_of", "bridge: its ifindex"),
    (bridge, "create_veth", "kernel: veth pair on the bridge"),
    (Netlink, "open", "netlink sockets (setns: loads _ctypes)"),
    (bridge, "configure_interface", "kernel: lo, address, eth0 up, route"),
    (sqlite.SqliteStore, "_commit", "store: COMMIT"),
)


def main() -> None:
    """Run `cli.main.entry` itself, its command reporting the timings once it has run (entry
    then flushes and leaves as it always does)."""
    timer = PhaseTimer()
    for owner, name, label in PHASES:
        timer.wrap(owner, name, label)
    timer.wrap(cli, "parse_command_line", PARSE)
    run = cli.run

    def run_and_report(args: Args) -> int:
        start = time.perf_counter()
        status = run(args)
        report = {"imports": IMPORTED - STARTED, "command": time.perf_counter() - start}
        report.update({label: sum(samples) for label, samples in timer.samples.items()})
        report["command"] += report.pop(PARSE)
        import json  # after the timed part

        sys.stderr.write(f"\n{MARK}{json.dumps(report)}\n")
        return status

    cli.run = run_and_report
    cli.entry()


if __name__ == "__main__":
    main()
