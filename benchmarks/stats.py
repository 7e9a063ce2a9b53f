"""Summaries of samples, and the rows of the results table.

A row is one measured thing (a method on a metric) with p50/p95 in its unit; a row that could not
be measured carries the reason instead. Comparisons (ratios, targets) are made in `report`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Row:
    """One line of the table: `key` is stable (JSON, tests), `label` is for people."""

    key: str
    label: str
    unit: str  # "ms", "s", "MiB", "Gbit/s"
    p50: float = math.nan
    p95: float = math.nan
    n: int = 0
    note: str = ""
    skipped: str = ""  # why it was not measured ("" when it was)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, label: str, unit: str, samples: list[float], note: str = "") -> Row:
        """A row from raw samples, already in `unit`."""
        return cls(
            key,
            label,
            unit,
            percentile(samples, 50),
            percentile(samples, 95),
            len(samples),
            note,
        )

    @classmethod
    def ms(cls, key: str, label: str, seconds: list[float], note: str = "") -> Row:
        return cls.of(key, label, "ms", [s * 1000 for s in seconds], note)

    @classmethod
    def skip(cls, key: str, label: str, unit: str, reason: str) -> Row:
        return cls(key, label, unit, skipped=reason)

    @property
    def ok(self) -> bool:
        return not self.skipped and not math.isnan(self.p50)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for k in ("p50", "p95"):
            if isinstance(data[k], float) and math.isnan(data[k]):
                data[k] = None
        return data
