"""Kernel-test fixtures: a lab (an engine in a throwaway host namespace) for the engine tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_lab import Lab, open_lab

from nslab import TestNetns


@pytest.fixture
def lab(
    host_ns: TestNetns, tmp_path: Path, netns_factory: Callable[[], TestNetns]
) -> Iterator[Lab]:
    with open_lab(host_ns, tmp_path, netns_factory) as made:
        yield made
