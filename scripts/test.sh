#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite: unit, kernel, end-to-end, golden, and
# the static checks (mypy --strict, ruff). Needs root: tests build throwaway network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "[test]"
exec .venv/bin/python -m pytest -q "$@"
