"""The benchmark's turns: every method comes right after every other equally often."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.attach import turn_order


@pytest.mark.parametrize("n", [2, 3, 5, 6, 7])
def test_a_cycle_of_turns_balances_who_follows_whom(n: int) -> None:
    items = list("abcdefg"[:n])
    cycle = n if n % 2 == 0 else 2 * n
    rows = [turn_order(items, block) for block in range(cycle)]
    assert all(sorted(row) == items for row in rows)
    pairs = Counter((row[i], row[i + 1]) for row in rows for i in range(n - 1))
    assert len(pairs) == n * (n - 1)  # every ordered pair occurs...
    assert len(set(pairs.values())) == 1  # ...equally often
    assert turn_order(items, cycle) == rows[0]
