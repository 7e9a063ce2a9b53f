"""Standard-library pieces without the modules that would bring them: `functools.cache`, the
`_sqlite3` module, and two of `types`' classes.

Why: `functools` imports `collections` (with `operator`, `keyword`, `reprlib`) and `types`;
together ~2 ms of every command's start, a tenth of a `network connect` (issue 3), and nothing a
command does needs them. What dockline needs of them is in C modules that cost nothing to import:
`functools.cache` is `_functools._lru_cache_wrapper` around the function, and `_sqlite3`, whose
own start takes `functools.lru_cache` for its statement cache, gets that same C wrapper. Python
API users, whose programs have usually imported `functools` long before, get the real thing.
`types` (~0.3 ms alone) names built-in classes that are reachable without it, and are taken
here the way `types` itself takes them.
"""

from __future__ import annotations

import sys
from _functools import _lru_cache_wrapper  # type: ignore[import-not-found]  # no stub: C

from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import MappingProxyType, ModuleType, SimpleNamespace
    from typing import TypeVar

    Function = TypeVar("Function", bound=Callable[..., object])
else:
    MappingProxyType = type(type.__dict__)
    SimpleNamespace = type(sys.implementation)

__all__ = ["MappingProxyType", "SimpleNamespace", "cache", "import_sqlite"]


def cache(function: Function) -> Function:
    """`functools.cache`: the results of `function` kept by its (hashable) arguments, forever.

    What `functools.cache` returns is this same C wrapper; only its `cache_info()` (a
    namedtuple) and the copied `__name__` and `__doc__` are missing.
    """
    wrapper: Function = _lru_cache_wrapper(function, None, False, tuple)
    return wrapper


def _lru_cache(maxsize: int | None = 128, typed: bool = False) -> Callable[[Function], Function]:
    """`functools.lru_cache(maxsize)`, the one form `_sqlite3` calls, from the same C wrapper."""
    if maxsize is not None and maxsize < 0:
        maxsize = 0
    return lambda function: _lru_cache_wrapper(function, maxsize, typed, tuple)


def import_sqlite() -> ModuleType:
    """The `_sqlite3` C module, imported with a stand-in `functools` that lends it `lru_cache`
    for its start, and is gone from `sys.modules` right after (a later `import functools` gets
    the real one).

    If `functools` is loaded already, or the stand-in falls short (a later Python whose
    `_sqlite3` asks `functools` for more), the plain import.
    """
    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        import _sqlite3

        return _sqlite3
    stand_in = type(sys)("functools")
    stand_in.lru_cache = _lru_cache  # type: ignore[attr-defined]
    sys.modules["functools"] = stand_in
    try:
        import _sqlite3
    except AttributeError:  # it asked for more than lru_cache
        pass
    else:
        return _sqlite3
    finally:
        del sys.modules["functools"]
    import _sqlite3  # the plain import, the real functools with it

    return _sqlite3
