"""Helpers every CLI command shares: the engine built from the global flags, `--format`."""

from __future__ import annotations

import os

from dockline.cli.grammar import FLAG, Args, Option
from dockline.config import Paths, resolve_paths
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from dockline.engine import Engine

QUIET = Option(("-q", "--quiet"), "quiet", "only IDs", FLAG)
NO_TRUNC = Option(("--no-trunc",), "no_trunc", "do not shorten IDs (or commands)", FLAG)
FORMAT = Option(
    ("--format",),
    "format",
    "'table' (default), 'json' (one object per line), a Go template, or 'table TEMPLATE'",
    default="table",
)
INSPECT_FORMAT = Option(
    ("-f", "--format"),
    "format",
    "'json' (JSON, as without it), or a Go template as Docker's: '{{.Field.Path}}', "
    "'{{json .Field}}', ...",
)


def paths_from(args: Args) -> Paths:
    return resolve_paths(os.environ, root=args.root, run_root=args.run_root, config=args.config)


def engine_from(args: Args) -> Engine:
    """The engine for this command; in a CLI process (`args.exiting`), kept in `args` so that
    its store connection lives until the process exits (see `Engine`, `cli.main.entry`)."""
    from dockline.engine import Engine

    engine = Engine(paths_from(args), leave_store_to_exit=args.exiting)
    if args.exiting:
        args.engine = engine
    return engine
