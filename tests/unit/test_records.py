"""`records.Record` builds what typing.NamedTuple builds, without importing typing."""

from __future__ import annotations

import builtins
import pickle
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


def test_construction_follows_namedtuple() -> None:
    assert Point(1, 2, "a") == Point(x=1, y=2, label="a") == Point(1, label="a", y=2)
    assert Point(x=5) == (5, 0, "") and Point(5, 6) == (5, 6, "")
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point(y=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 3 fields, not 0"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 3 fields, not 4"):
        Point(1, 2, "a", 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"unexpected arguments \['z'\]"):
        Point(1, z=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"multiple values for \['x'\]"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(ValueError, match="no fields"):
        Point(1)._replace(z=2)  # type: ignore[call-arg]


def test_namedtuple_helpers_and_pickling() -> None:
    p = Point(1, 2, "a")
    assert Point._make([1, 2, "a"]) == p and type(Point._make((1, 2, "a"))) is Point
    assert p._asdict() == {"x": 1, "y": 2, "label": "a"}
    assert Point._field_defaults == {"y": 0, "label": ""}
    assert Point.__match_args__ == ("x", "y", "label")
    assert pickle.loads(pickle.dumps(p)) == p
    assert isinstance(p, tuple) and not hasattr(p, "__dict__")


class Single(Record):
    only: str


def test_one_field() -> None:
    assert Single("a") == ("a",) and Single(only="b").only == "b"


def test_defining_a_record_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # namedtuple compiles a __new__ per class (~100 us each at start-up); records must not
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a record class was compiled")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(builtins, "compile", refuse)

    class Fresh(Record):
        a: int
        b: int = 2

    assert Fresh(1) == (1, 2)


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        class Bad(Record):
            a: int = 0
            b: int  # type: ignore[misc]  # the very mistake this test makes


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
