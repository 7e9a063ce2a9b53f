"""`Record` (typing.NamedTuple's class syntax) and `Protocol`, without `typing` at run time.

Why: `typing` imports `re`, `enum`, `functools` and `contextlib`; with `typing.NamedTuple` it cost
~10 ms of every CLI start, a quarter of the `network connect` budget (issue 3, measured with
`python -X importtime`). So the type checker sees the real `typing` forms, and the interpreter
gets cheap equivalents:

- `Record`: for mypy it *is* `typing.NamedTuple`; at run time a subclass becomes a tuple class
  with the annotated fields, their defaults, and the class's own methods, properties and
  docstring, and what a namedtuple has (`_fields`, `_replace`, `_make`, `_asdict`, its repr):
  what `typing.NamedTuple` builds, minus the typing machinery, and minus `namedtuple`'s one
  costly step: it compiles a `__new__` for every class (`eval`), which for the 13 records that
  `network connect` imports cost 1.3-1.7 ms of every start here. One generic `__new__` serves
  all records instead: as fast for positional arguments, ~0.7 us slower with keywords.
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
    from _collections import _tuplegetter  # namedtuple's own field descriptor (C)
    from _operator import itemgetter  # operator.py re-exports it, at ~0.1 ms

    Protocol = object

    # What a class body holds besides fields that must not be copied onto the new class.
    _CLASS_INTERNALS = frozenset({"__annotations__", "__module__", "__qualname__", "__slots__"})
    _new_tuple = tuple.__new__

    class _RecordTuple(tuple):
        """What every record class inherits: namedtuple's behaviour, written once."""

        __slots__ = ()

        def __new__(cls, *args, **kwargs):
            fields = cls._fields
            if kwargs:
                taken = fields[: len(args)]
                if any(name in kwargs for name in taken):
                    twice = [name for name in taken if name in kwargs]
                    raise TypeError(f"{cls.__name__}() got multiple values for {twice}")
                values = cls._field_defaults | dict(zip(fields, args, strict=False)) | kwargs
                try:
                    args = cls._values_of(values)
                except KeyError as err:
                    raise TypeError(f"{cls.__name__}() missing argument {err}") from None
                if len(values) != len(fields):
                    unknown = sorted(values.keys() - set(fields))
                    raise TypeError(f"{cls.__name__}() got unexpected arguments {unknown}")
                return _new_tuple(cls, args)
            missing = len(fields) - len(args)
            if missing:
                defaults = cls._defaults
                if missing < 0 or missing > len(defaults):
                    raise TypeError(f"{cls.__name__}() takes {len(fields)} fields, not {len(args)}")
                args += defaults[len(defaults) - missing :]
            return _new_tuple(cls, args)

        @classmethod
        def _make(cls, iterable):
            result = _new_tuple(cls, iterable)
            if len(result) != len(cls._fields):
                raise TypeError(f"{cls.__name__} takes {len(cls._fields)} fields")
            return result

        def _replace(self, /, **changes):
            result = self._make(map(changes.pop, self._fields, self))
            if changes:
                raise ValueError(f"{type(self).__name__} has no fields {list(changes)}")
            return result

        def _asdict(self):
            return dict(zip(self._fields, self, strict=True))

        def __repr__(self):
            named = zip(self._fields, self, strict=True)
            pairs = ", ".join(f"{name}={value!r}" for name, value in named)
            return f"{type(self).__name__}({pairs})"

        def __getnewargs__(self):
            return tuple(self)

    class _RecordMeta(type):
        """Turns `class X(Record): a: int; b: str = ""` into a tuple class with fields a and b."""

        def __new__(mcs, name, bases, namespace):
            if not bases:  # Record itself
                return super().__new__(mcs, name, bases, namespace)
            if "__classcell__" in namespace:
                raise TypeError(f"{name}: a Record's methods cannot use super() or __class__")
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = tuple(namespace[f] for f in fields if f in namespace)
            optional = fields[len(fields) - len(defaults) :]
            if any(f not in namespace for f in optional):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            body = {k: v for k, v in namespace.items() if k not in _CLASS_INTERNALS}
            body.update(
                __slots__=(),
                __module__=namespace["__module__"],
                __qualname__=namespace["__qualname__"],
                __match_args__=fields,
                _fields=fields,
                _defaults=defaults,
                _field_defaults=dict(zip(optional, defaults, strict=True)),
                _values_of=staticmethod(_getter(fields)),
            )
            for index, field in enumerate(fields):
                body[field] = _tuplegetter(index, f"Alias for field number {index}")
            return type(name, (_RecordTuple,), body)

    def _getter(fields):
        """A function from a dict to the tuple of its values for `fields`, in C."""
        if len(fields) == 1:
            (only,) = fields
            return lambda values: (values[only],)
        return itemgetter(*fields) if fields else lambda values: ()

    class Record(metaclass=_RecordMeta):
        """Base of dockline's immutable records (see the module docstring)."""


__all__ = ["TYPE_CHECKING", "Protocol", "Record"]
