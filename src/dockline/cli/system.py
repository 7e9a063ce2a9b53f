"""Commands about dockline itself: version."""

from __future__ import annotations

import os
import sys

from dockline import __version__
from dockline.cli.grammar import Args, Command, Option


def cmd_version(args: Args) -> int:
    """What `docker version` tells: the version, and what it runs on (for bug reports)."""
    info = {
        "Version": __version__,
        "PythonVersion": "{}.{}.{}".format(*sys.version_info),  # `platform` imports `re`
        "Os": "linux",
        "Arch": os.uname().machine,
        "KernelVersion": os.uname().release,
    }
    if args.format == "json":
        from dockline.cli.output import print_json

        print_json(info)
    elif args.format:
        from dockline.cli.output import render_template

        print(render_template(args.format, info))
    else:
        print(f"dockline version {__version__}")
        for key in ("PythonVersion", "KernelVersion", "Os", "Arch"):
            print(f" {key + ':':<15}{info[key]}")
    return 0


COMMANDS = (
    Command(
        ("version",),
        "show the version of dockline and what it runs on",
        cmd_version,
        options=(Option(("-f", "--format"), "format", "'json', or a Go template"),),
    ),
)
