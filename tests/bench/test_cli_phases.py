"""`diagnose.py cli phases`: a `network connect` timed phase by phase in its own process.

The phases are dockline's functions wrapped by name, so a renamed or no longer called function
would silently drop out of the breakdown; this checks that every phase is still timed, and that
the parts add up within the whole.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def test_every_phase_of_network_connect_is_timed(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks import diagnose
        from benchmarks.cli_phases import PHASES
    finally:
        sys.path.remove(str(REPO))

    diagnose.cli_phases(runs=3)

    rows = {}
    for line in capsys.readouterr().out.splitlines():
        label, value = line.rsplit(" p50 ", 1)
        rows[label.strip()] = float(value.removesuffix(" ms"))
    assert set(rows) >= {label for _, _, label in PHASES}
    assert all(value > 0 for value in rows.values()), rows
    phases = sum(rows[label] for _, _, label in PHASES)
    assert phases < rows["the command (parse, run, print)"]
    parts = rows["imports (everything it imports)"] + rows["the command (parse, run, print)"]
    assert parts < rows["network connect, whole"]
