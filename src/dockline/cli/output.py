"""Rendering for people and scripts: aligned tables, JSON, Go-template-like `--format`, ages."""

from __future__ import annotations

import sys
import time

from dockline.errors import InvalidArgument
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns as Docker's tables: three spaces after the widest cell, at least ten wide."""
    for line in _aligned([list(headers), *(list(row) for row in rows)]):
        print(line)


def _aligned(lines: list[list[str]]) -> list[str]:
    """Cells padded as Go's tabwriter pads them for Docker (minimum width 10, padding 3): every
    cell but a line's last is part of a column. Lines end with their text, not with padding."""
    widths: list[int] = []
    for cells in lines:
        for i, cell in enumerate(cells[:-1]):
            if i == len(widths):
                widths.append(10)
            widths[i] = max(widths[i], len(cell) + 3)
    return [
        (
            "".join(cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=False))
            + (cells[-1] if cells else "")
        ).rstrip()
        for cells in lines
    ]


def print_listing(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    headers: dict[str, str],
    default: Sequence[str],
    *,
    quiet: bool = False,
) -> None:
    """A list command's output, as Docker's: with `quiet` the IDs alone; else by `--format`:
    `table` or nothing (the `default` columns), `json` (an object per line), `table TEMPLATE`
    (a header row, then a row each, aligned at tabs) or a TEMPLATE alone (a line each).
    `headers` names every field's column."""
    if quiet:
        for row in rows:
            print(row["ID"])
    elif fmt == "json":
        print_json_lines(rows)
    elif fmt.strip() in ("", "table"):
        print_table(
            [headers[key] for key in default], [[row[key] for key in default] for row in rows]
        )
    else:
        _print_templated(rows, fmt, headers)


def _print_templated(rows: Sequence[dict[str, Any]], fmt: str, headers: dict[str, str]) -> None:
    """Docker's reading of a list template: `table` first makes it a table, whose header is the
    template applied to the column names; `\\t` and `\\n` are a tab and a newline."""
    from dockline.cli import templates

    table = fmt.startswith("table")
    text = (fmt[len("table") :] if table else fmt).strip(" ")
    text = text.replace("\\t", "\t").replace("\\n", "\n")
    try:
        nodes = templates.parse(text)
        lines = [templates.render(nodes, row) for row in rows]
        if table:
            lines.insert(0, templates.render(nodes, headers, header=True))
    except templates.TemplateError as err:
        raise _invalid(fmt, err) from None
    if table:
        cells = [line.split("\t") for line in "\n".join(lines).split("\n")]
        lines = _aligned(cells)
    for line in lines:
        print(line)


def print_json(value: Any) -> None:
    import json  # json costs start-up time; most commands never print it

    json.dump(value, sys.stdout, indent=4)
    sys.stdout.write("\n")


def print_json_lines(rows: Sequence[Any]) -> None:
    """One JSON object per line, as `docker ps --format json`."""
    import json

    for row in rows:
        print(json.dumps(row))


def print_objects(objects: Sequence[dict[str, Any]], template: str | None) -> None:
    """`inspect`'s output, as the Docker CLI's: the objects as one JSON array, indented (no
    format) or compact on one line (`json`), or each through a Go template."""
    if template == "json":
        import json

        print(json.dumps(list(objects), separators=(",", ":")))
    elif template:
        for obj in objects:
            print(render_template(template, obj))
    else:
        print_json(list(objects))


def render_template(template: str, value: Any) -> str:
    """`template` (Go's text/template language, as `--format` takes it: see cli/templates.py)
    applied to `value`; anything wrong with it is one InvalidArgument naming the template."""
    from dockline.cli import templates  # `re` and `json`: only --format templates pay for them

    try:
        return templates.render(templates.parse(template), value)
    except templates.TemplateError as err:
        raise _invalid(template, err) from None


def _invalid(template: str, err: Exception) -> InvalidArgument:
    return InvalidArgument("format", repr(template), str(err))


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


def local_time(seconds: float) -> str:
    """`2026-11-28 13:45:00 +0000 UTC`: how Docker's list commands print a `CreatedAt`."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(seconds))


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
