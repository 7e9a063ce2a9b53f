"""Rendering for people and scripts: aligned tables, JSON, Go-template-like `--format`, ages."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from dockline.errors import InvalidArgument
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

TEMPLATE_PATTERN = r"\{\{\s*(json\s+)?((?:\.[A-Za-z0-9_]+)+|\.)\s*\}\}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, three spaces apart, as Docker prints them."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("   ".join(cells).rstrip())


def print_json(value: Any) -> None:
    import json  # json costs start-up time; most commands never print it

    json.dump(value, sys.stdout, indent=4)
    sys.stdout.write("\n")


def print_json_lines(rows: Sequence[Any]) -> None:
    """One JSON object per line, as `docker ps --format json`."""
    import json

    for row in rows:
        print(json.dumps(row))


def render_template(template: str, value: Any) -> str:
    """A small subset of Go templates: `{{.A.B}}` and `{{json .A}}`."""
    import json
    import re  # `re` (with `enum`) costs ~4 ms of start-up: only --format templates need it

    pattern = re.compile(TEMPLATE_PATTERN)
    if "{{" in pattern.sub("", template):
        raise InvalidArgument("format", repr(template), "only {{.Field.Path}} and {{json .Field}}")

    def substitute(match: re.Match[str]) -> str:
        found = _lookup(value, match.group(2), template)
        if match.group(1):
            return json.dumps(found)
        if isinstance(found, bool):
            return str(found).lower()
        if isinstance(found, dict | list):
            return json.dumps(found)
        return str(found)

    return pattern.sub(substitute, template)


def _lookup(value: Any, path: str, template: str) -> Any:
    for key in [k for k in path.split(".") if k]:
        if not isinstance(value, dict) or key not in value:
            raise InvalidArgument("format", repr(template), f"no field {key!r}")
        value = value[key]
    return value


def human_age(since: float | None, now: float | None = None) -> str:
    """`3 seconds`, `About a minute`, `2 hours`, as in `docker ps`."""
    if not since:
        return ""
    seconds = max(0, int((now or time.time()) - since))
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
