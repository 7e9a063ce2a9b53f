"""The attach hot path stays light: `python -X importtime` as a regression check.

A new process per `network connect` pays for every module it imports (Python's own start-up is
13-19 ms here; we measured ~250 ms for pyroute2 alone). This test imports what the CLI imports
for `network connect` and checks, deterministically (module names, not timings), that nothing
heavy crept in, and that the number of modules stays within a budget.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOT_PATH = (
    "from dockline.cli.main import parse_command_line\n"
    "args = parse_command_line(['network', 'connect', 'bridge', '--pid', '1', '--ip', '10.0.0.2'])\n"
    "assert args.handler.__name__ == 'cmd_connect', args\n"
    "import dockline.engine, dockline.store.sqlite, dockline.netns, dockline.driver.bridge\n"
    "import dockline.ipam\n"
    # connect's one syscall that Python 3.11 lacks, run for real (into our own netns: a no-op)
    "import os\nfrom dockline import linux\n"
    "linux.setns(os.open('/proc/self/ns/net', os.O_RDONLY), linux.CLONE_NEWNET)\n"
)
# Each of these cost start-up time that `network connect` does not need (issue 3): typing (with
# re, enum, contextlib: ~10 ms), argparse (~8 ms with re, enum, gettext), the sqlite3 package
# (datetime: ~3 ms; we use the C module _sqlite3), contextlib (~0.6 ms), importlib (with
# warnings: ~0.5 ms; `__import__` does what the CLI needs), the ctypes package (~1-1.5 ms on top
# of its C module `_ctypes`, which setns needs; see linux._int_function), ipaddress with
# functools and collections (~3.5 ms; see dockline.addr and dockline.lean), types (~0.3 ms) and
# operator (~0.4 ms).
FORBIDDEN = {
    "ipaddress",
    "functools",
    "collections",
    "types",
    "operator",
    "ctypes",
    "importlib",
    "warnings",
    "typing",
    "re",
    "enum",
    "argparse",
    "gettext",
    "datetime",
    "sqlite3",
    "signal",
    "contextlib",
    "pyroute2",
    "dataclasses",
    "inspect",
    "secrets",
    "hashlib",
    "json",
    "subprocess",
    "shutil",
    "asyncio",
    "logging",
    "dockline.firewall",
    "dockline.runtime",
    "dockline.inspect",
    "dockline.store.base",  # protocols: for the type checker only
    "dockline.cli.output",  # tables and JSON: not for connect
}
MODULE_BUDGET = 72  # modules imported in total, interpreter start-up included (68 today, Debian)


def imported_modules() -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", HOT_PATH],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return [line.rsplit("|", 1)[1].strip() for line in lines[1:]]


def test_hot_path_imports_nothing_heavy() -> None:
    modules = imported_modules()
    heavy = sorted(m for m in modules if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN)
    assert heavy == [], f"the attach path now imports {heavy}"


def test_hot_path_module_count_within_budget() -> None:
    modules = imported_modules()
    assert len(modules) <= MODULE_BUDGET, f"{len(modules)} modules: {modules}"


# The monitor of every running container waits as `python -I -S waiter.py` (see
# dockline.runtime.waiter): any module it imports is memory held per container.
WAITER_DIR = Path(__file__).resolve().parents[2] / "src" / "dockline" / "runtime"


def modules_after_start(code: str) -> set[str]:
    """Modules `code` imports beyond what the interpreter loads at start, as the waiter runs."""

    def imported(source: str) -> set[str]:
        argv = [sys.executable, "-I", "-S", "-X", "importtime", "-c", source]
        proc = subprocess.run(argv, capture_output=True, text=True, check=True)
        lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
        return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}

    return imported(code) - imported("pass")


def test_the_waiter_imports_nothing_but_itself() -> None:
    # run as a script, its directory is sys.path[0]: the same as importing it from there
    code = f"import sys; sys.path.insert(0, {str(WAITER_DIR)!r}); import waiter"
    assert modules_after_start(code) == {"waiter", "__future__"}


def test_the_waiter_reports_a_lost_child_as_dockline_does() -> None:
    from dockline.errors import ExitStatus
    from dockline.runtime.waiter import NO_SUCH_CHILD

    assert NO_SUCH_CHILD == ExitStatus.DOCKLINE


BIN = Path(__file__).resolve().parents[2] / "bin" / "dockline"


def test_the_command_freezes_its_imports_before_the_collector_runs() -> None:
    # bin/dockline as pip installs it: the collector must not run while the imports are made
    # (a collection then would see no frozen objects), and must be on again, with them frozen.
    code = (
        "import gc, sys\n"
        "during_imports = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and 'dockline' in sys.modules"
        " and not gc.get_freeze_count() and during_imports.append(info['generation']))\n"
        "sys.argv = ['dockline', '--help']\n"
        f"source = open({str(BIN)!r}).read()\n"
        "try:\n"
        "    exec(compile(source, 'dockline', 'exec'), {'__name__': '__main__'})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.isenabled(), gc.get_freeze_count(), during_imports, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    enabled, frozen, rest = proc.stderr.strip().split(" ", 2)
    assert enabled == "True"
    assert int(frozen) > 5000, proc.stderr  # what the imports made
    assert rest == "[]", f"collections of these generations while importing: {rest}"
