"""`records.Record` builds what typing.NamedTuple builds, without importing typing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dockline.records import Record


class Point(Record):
    """A point."""

    x: int
    y: int = 0
    label: str = ""

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)

    def __str__(self) -> str:
        return f"({self.x}, {self.y})"


def test_fields_defaults_methods_and_tuple_behaviour() -> None:
    p = Point(3, -4)
    assert (p.x, p.y, p.label) == (3, -4, "")
    assert p == (3, -4, "") and tuple(p) == (3, -4, "")
    assert p.norm1 == 7 and str(p) == "(3, -4)"
    assert p._replace(label="a") == Point(3, -4, "a")
    assert Point._fields == ("x", "y", "label")
    assert Point.__doc__ == "A point."
    assert Point.__qualname__ == "Point" and Point.__module__ == __name__
    assert repr(p) == "Point(x=3, y=-4, label='')"
    with pytest.raises(AttributeError):
        p.x = 1  # type: ignore[misc]
    assert hash(p) == hash((3, -4, ""))


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        class Bad(Record):  # type: ignore[misc]
            a: int = 0
            b: int


def test_super_in_a_record_method_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot use super"):

        class Sneaky(Record):
            a: int

            def __repr__(self) -> str:
                return super().__repr__()


def test_records_do_not_import_typing() -> None:
    code = "import sys, dockline.model; print('typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
