"""Rendering for people and scripts: aligned tables, JSON, Go-template-like `--format`, ages."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from dockline.errors import InvalidArgument
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterator
    from typing import Any

    # text, or (kind, path, body): kind is "field", "json" or "range" (only a range has a body)
    _Node = str | tuple[str, str, list["_Node"]]


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
    """A subset of Go templates, the forms Docker users reach for: `{{.A.B}}`, `{{json .A}}`,
    and `{{range .A}}...{{end}}` (over a list, or a map's values in key order, as Go does),
    inside which `.` is the element: `{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}`.
    Anything else is refused whole, before any output."""
    import json
    import re  # `re` (with `enum`) costs ~4 ms of start-up: only --format templates need it

    nodes = _parse_template(template, re.compile(_ACTION_PATTERN))
    return "".join(_render(nodes, value, template, json.dumps))


_ACTION_PATTERN = r"\{\{(.*?)\}\}"
_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_SUPPORTED = "only {{.Field.Path}}, {{json .Field}} and {{range .Field}}...{{end}}"


def _parse_template(template: str, actions: re.Pattern[str]) -> list[_Node]:
    """The template as text and (kind, path, body) actions; ranges nest their bodies."""
    root: list[_Node] = []
    open_bodies = [root]
    end = 0
    for match in actions.finditer(template):
        if match.start() > end:
            open_bodies[-1].append(template[end : match.start()])
        end = match.end()
        words = match.group(1).split()
        if words == ["end"] and len(open_bodies) > 1:
            open_bodies.pop()
        elif len(words) == 1 and _is_path(words[0]):
            open_bodies[-1].append(("field", words[0], []))
        elif len(words) == 2 and words[0] in ("json", "range") and _is_path(words[1]):
            body: list[_Node] = []
            open_bodies[-1].append((words[0], words[1], body))
            if words[0] == "range":
                open_bodies.append(body)
        else:
            raise InvalidArgument("format", repr(template), _SUPPORTED)
    rest = template[end:]
    if "{{" in rest or len(open_bodies) > 1:
        raise InvalidArgument("format", repr(template), _SUPPORTED)
    if rest:
        root.append(rest)
    return root


def _is_path(word: str) -> bool:
    """`.` or `.A.B`: a dot, then names joined by dots."""
    names = word.split(".")[1:]
    return word == "." or (word.startswith(".") and all(names) and _PATH_CHARS.issuperset(word))


def _render(
    nodes: list[_Node], dot: Any, template: str, dumps: Callable[[Any], str]
) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, str):
            yield node
            continue
        kind, path, body = node
        found = _lookup(dot, path, template)
        if kind == "json":
            yield dumps(found)
        elif kind == "field":
            yield _plain(found, dumps)
        else:
            for item in _range_items(found, path, template):
                yield from _render(body, item, template, dumps)


def _plain(found: Any, dumps: Callable[[Any], str]) -> str:
    if isinstance(found, bool):
        return str(found).lower()
    if isinstance(found, dict | list):
        return dumps(found)
    return "" if found is None else str(found)


def _range_items(found: Any, path: str, template: str) -> list[Any]:
    if isinstance(found, dict):
        return [found[key] for key in sorted(found)]
    if isinstance(found, list):
        return found
    if found is None:
        return []
    raise InvalidArgument("format", repr(template), f"range over {path}: not a list or map")


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
