"""`Record` (typing.NamedTuple's class syntax) and `Protocol`, without `typing` at run time.

Why: `typing` imports `re`, `enum`, `functools` and `contextlib`; with `typing.NamedTuple` it cost
~10 ms of every CLI start, a quarter of the `network connect` budget (issue 3, measured with
`python -X importtime`). So the type checker sees the real `typing` forms, and the interpreter
gets cheap equivalents:

- `Record`: for mypy it *is* `typing.NamedTuple`; at run time a subclass becomes a plain
  `collections.namedtuple` with the annotated fields, their defaults, and the class's own
  methods, properties and docstring: what `typing.NamedTuple` builds, minus the typing machinery.
- `Protocol`: for mypy `typing.Protocol`; at run time `object`, so a protocol class is only
  documentation there (no module does `isinstance` checks against them).
- `TYPE_CHECKING`: False here; mypy treats any name `TYPE_CHECKING` as true, so
  `if TYPE_CHECKING:` blocks hold the imports of `typing` names used only in annotations
  (every module has `from __future__ import annotations`).
"""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple as Record
    from typing import Protocol
else:
    from collections import namedtuple

    Protocol = object

    # What a class body holds besides fields that must not be copied onto the new class.
    _CLASS_INTERNALS = frozenset({"__annotations__", "__module__", "__qualname__", "__slots__"})

    class _RecordMeta(type):
        """Turns `class X(Record): a: int; b: str = ""` into namedtuple("X", "a b", defaults)."""

        def __new__(mcs, name, bases, namespace):
            if not bases:  # Record itself
                return super().__new__(mcs, name, bases, namespace)
            if "__classcell__" in namespace:
                raise TypeError(f"{name}: a Record's methods cannot use super() or __class__")
            fields = list(namespace.get("__annotations__", {}))
            defaults = [namespace[f] for f in fields if f in namespace]
            if any(f not in namespace for f in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            cls = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
            cls.__qualname__ = namespace["__qualname__"]
            for key, value in namespace.items():
                if key not in _CLASS_INTERNALS and key not in fields:
                    setattr(cls, key, value)
            return cls

    class Record(metaclass=_RecordMeta):
        """Base of dockline's immutable records (see the module docstring)."""


__all__ = ["TYPE_CHECKING", "Protocol", "Record"]
