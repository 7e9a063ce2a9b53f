"""`--filter KEY=VALUE` as Docker reads it (cli/filters.py)."""

from __future__ import annotations

import pytest

from dockline.cli.filters import ANY, DOCKER_STATUSES, matches, name_matches, parse_filters
from dockline.errors import InvalidArgument

KEYS = {"id": ANY, "name": ANY, "status": DOCKER_STATUSES}


def test_values_of_one_key_are_alternatives_and_keys_must_all_match() -> None:
    filters = parse_filters(["status=exited", "Status=created", "name=web"], KEYS)
    assert filters == {"status": ["exited", "created"], "name": ["web"]}
    tests = {"status": "created".__eq__, "name": "web1".__contains__}
    assert matches(filters, tests)
    assert not matches(filters, tests | {"name": "db".__contains__})
    assert not matches(filters, tests | {"status": "running".__eq__})
    assert matches({}, {})  # no filter: everything passes


def test_name_is_a_regular_expression_over_docker_s_slashed_name() -> None:
    assert name_matches("^/web", "web1") and name_matches("web", "a-web")
    assert name_matches("^web$", "web") and name_matches("^/web$", "web")  # with and without /
    assert not name_matches("^web$", "web1") and not name_matches("^/eb", "web")


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("bogus=1", "KEY one of id, name, status"),
        ("status", "takes KEY=VALUE"),
        ("status=up", "status is one of created, running, exited"),
        ("name=[", "not a regular expression"),
    ],
)
def test_bad_filters_are_refused_by_name(given: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_filters(["id=ab", given], KEYS, patterns=("name",))
    assert given in str(caught.value) and why in str(caught.value)


def test_a_name_that_is_not_a_pattern_key_is_taken_as_it_is() -> None:
    assert parse_filters(["name=["], KEYS) == {"name": ["["]}
