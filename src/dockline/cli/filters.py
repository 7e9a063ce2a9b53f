"""`--filter KEY=VALUE` for list commands, read as Docker reads it.

Values of one key are alternatives (`-f status=exited -f status=created`: either), different
keys must all match. Every filter is checked before anything is listed: an unknown key, a
status Docker does not have, or a name pattern that is not a regular expression is one
InvalidArgument naming it.
"""

from __future__ import annotations

from dockline.errors import InvalidArgument
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable, Mapping

    Predicate = Callable[[str], bool]

ANY = ()  # a key whose values are not from a fixed list

# What `docker ps --filter status=` takes; dockline's containers are only ever the first three.
DOCKER_STATUSES = ("created", "running", "exited", "restarting", "removing", "paused", "dead")


def parse_filters(
    given: Iterable[str] | None,
    keys: Mapping[str, tuple[str, ...]],
    *,
    patterns: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """`KEY=VALUE` strings as {key: [values]}; `keys` maps each key taken to the values it
    takes (ANY: whatever is given); the values of `patterns` keys are regular expressions."""
    filters: dict[str, list[str]] = {}
    for item in given or ():
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in keys:
            raise InvalidArgument("filter", item, f"takes KEY=VALUE, KEY one of {', '.join(keys)}")
        if keys[key] and value not in keys[key]:
            raise InvalidArgument("filter", item, f"{key} is one of {', '.join(keys[key])}")
        if key in patterns:
            _pattern(item, value)  # checked now, not when the first row is read
        filters.setdefault(key, []).append(value)
    return filters


def matches(filters: dict[str, list[str]], tests: dict[str, Predicate]) -> bool:
    """Whether a row passes: for every key filtered on, one of its values passes that key's test."""
    return all(any(tests[key](value) for value in values) for key, values in filters.items())


def name_matches(value: str, name: str) -> bool:
    """Docker's `name` filter of containers: a regular expression searched in the name, which
    is `/` + name to Docker, and in the name without it (as current Docker does), so
    `^/web`, `^web$` and `web` all work."""
    pattern = _pattern(value, value)
    return pattern.search("/" + name) is not None or pattern.search(name) is not None


def _pattern(item: str, value: str) -> re.Pattern[str]:
    import re  # only a name filter pays for it

    try:
        return re.compile(value)
    except re.error as err:
        raise InvalidArgument("filter", item, f"not a regular expression: {err}") from None
