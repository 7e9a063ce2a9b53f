"""Helpers every CLI command shares: the engine built from the global flags."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from dockline.config import Paths, resolve_paths

if TYPE_CHECKING:
    from dockline.engine import Engine


def paths_from(args: argparse.Namespace) -> Paths:
    return resolve_paths(os.environ, root=args.root, run_root=args.run_root, config=args.config)


def engine_from(args: argparse.Namespace) -> Engine:
    from dockline.engine import Engine

    return Engine(paths_from(args))


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default="table",
        help="'table' (default), 'json' (one object per line), or a {{.Field}} template",
    )
