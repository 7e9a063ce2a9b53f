"""Timing of dockline's own functions by phase, in the process that calls them.

`PhaseTimer` swaps functions of dockline's modules for timed wrappers (in this process only,
undone by `restore`). Used by `diagnose.py attach` (the API in the diagnosing process) and by
`cli_phases.py` (a CLI command in a process of its own), so it imports nothing that dockline's
command would not: the CLI's imports are timed before it is loaded.
"""

from __future__ import annotations

import time

from dockline.records import TYPE_CHECKING  # `typing` itself is not imported at run time

if TYPE_CHECKING:
    from typing import Any

MARK = "dlbench-phases "  # cli_phases.py's last line of stderr: this, then its timings as JSON


class PhaseTimer:
    """Wraps functions of dockline's modules (in this process only) to time each call."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        samples = self.samples.setdefault(label, [])

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                samples.append(time.perf_counter() - start)

        self._undo.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()
