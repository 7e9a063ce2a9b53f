"""End-to-end fixtures: a `dl` that runs the CLI in a throwaway host namespace with private
state, and removes every container it made afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import Dockline

from nslab import TestNetns


@pytest.fixture
def dl(host_ns: TestNetns, tmp_path: Path) -> Iterator[Dockline]:
    tool = Dockline(host_ns, tmp_path)
    yield tool
    ids = tool("ps", "-aq", check=False).stdout.split()
    if ids:
        tool("rm", "-f", *ids, check=False)
    tool("gc", check=False)
