"""The static checks are part of the suite: mypy --strict and ruff (lint and format)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_mypy_strict() -> None:
    proc = run(str(BIN / "mypy"))  # the files in pyproject.toml: the package, the benchmarks
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("directory", ["", "unit", "kernel", "e2e", "golden", "bench"])
def test_mypy_strict_on_the_tests(directory: str) -> None:
    """The tests too, one directory at a time, as pytest sees them: each has a `conftest` of
    its own (one run over all would find the module twice), and imports its helpers from
    itself and from tests/ (nslab), which pytest puts on sys.path."""
    where = ROOT / "tests" / directory
    paths = [str(where)] if directory else ["tests/conftest.py", "tests/nslab.py"]
    env = dict(os.environ, MYPYPATH=os.pathsep.join(["tests", str(where)]))
    argv = [str(BIN / "mypy"), "--explicit-package-bases", *paths]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_lint() -> None:
    proc = run(str(BIN / "ruff"), "check", "src", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = run(str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
