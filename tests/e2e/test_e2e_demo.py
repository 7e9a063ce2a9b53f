"""The README's first command, the demo, runs to the end and leaves nothing behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_and_cleans_up() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "demo: done, nothing left behind" in out
    assert "0% packet loss" in out  # the two containers pinged each other
    assert "Operation not permitted" in proc.stderr  # and could not change their network
