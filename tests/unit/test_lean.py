"""dockline.lean: `_sqlite3` without functools, and functools.cache from its C core, as the real."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from dockline.lean import MappingProxyType, SimpleNamespace, cache


def run_fresh(code: str) -> str:
    """Run `code` in a new interpreter that has imported nothing of its own (`-I -S`), with
    this one's import path."""
    prelude = f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}\n"
    argv = [sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(code)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_store_loads_sqlite_without_functools_and_its_statement_cache_works() -> None:
    out = run_fresh("""
        from dockline.store import sqlite
        import sys
        print("functools" in sys.modules, "collections" in sys.modules)
        db = sqlite.sqlite3.connect(":memory:", cached_statements=4)
        db.execute("CREATE TABLE t (x)")
        for i in range(300):  # 300 distinct statements through a cache of 4, and repeats
            db.execute(f"INSERT INTO t VALUES ({i % 7})")
            db.execute("INSERT INTO t VALUES (?)", (i,))
        print(db.execute("SELECT count(*), sum(x) FROM t").fetchone())
        import functools
        print(functools.reduce(lambda a, b: a + b, [1, 2, 3]), functools.lru_cache.__module__)
    """)
    assert out.splitlines() == ["False False", "(600, 45747)", "6 functools"]


def test_with_functools_already_there_sqlite_is_imported_as_it_is() -> None:
    out = run_fresh("""
        import functools, sys
        from dockline.lean import import_sqlite
        real = functools.lru_cache
        module = import_sqlite()
        print(sys.modules["functools"].lru_cache is real, module.connect(":memory:") is not None)
    """)
    assert out.splitlines() == ["True True"]


def test_an_sqlite_that_asks_functools_for_more_gets_the_real_one() -> None:
    # A later Python's _sqlite3 might want more of functools at its start than lru_cache: this
    # cannot be caused with the real module here, so a stand-in `_sqlite3` asks for `reduce`.
    out = run_fresh("""
        import sys
        class Finder:
            def find_spec(self, name, path=None, target=None):
                if name != "_sqlite3":
                    return None
                from importlib.machinery import ModuleSpec
                return ModuleSpec(name, self)
            def create_module(self, spec):
                return None
            def exec_module(self, module):
                import functools
                module.reduce = functools.reduce
        sys.meta_path.insert(0, Finder())
        from dockline.lean import import_sqlite
        module = import_sqlite()
        real = "lru_cache" in vars(sys.modules["functools"])
        print(module.reduce(lambda a, b: a * b, [2, 3, 4]), real)
    """)
    assert out.splitlines() == ["24 True"]


def test_cache_keeps_one_result_per_argument() -> None:
    calls: list[int] = []

    @cache
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert [square(n) for n in (3, 4, 3, 3, 4)] == [9, 16, 9, 9, 16]
    assert calls == [3, 4]


def test_the_types_classes_are_the_standard_ones() -> None:
    import types

    assert MappingProxyType is types.MappingProxyType
    assert SimpleNamespace is types.SimpleNamespace
