"""An explicit undo stack: every operation completes or is rolled back.

Push an undo step right after each resource exists; `commit()` at the end keeps them all. If the
block raises before `commit()`, the steps run in reverse order, every one of them even if some fail;
their failures are attached to the original exception as notes so nothing is silently lost.
"""

from __future__ import annotations

from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import ParamSpec

    P = ParamSpec("P")


class Rollback:
    """Collects undo steps; runs them in reverse unless committed."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], object]] = []
        self._committed = False

    def push(self, fn: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
        """Register the step that undoes what was just done."""
        self._steps.append(lambda: fn(*args, **kwargs))

    def commit(self) -> None:
        """Keep everything: the undo steps will not run."""
        self._committed = True
        self._steps.clear()

    def undo(self) -> list[BaseException]:
        """Run every pending step now, newest first; return the failures."""
        failures: list[BaseException] = []
        while self._steps:
            step = self._steps.pop()
            try:
                step()
            except Exception as err:
                failures.append(err)
        return failures

    def __enter__(self) -> Rollback:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or self._committed:
            return
        for failure in self.undo():
            exc.add_note(f"rollback step failed: {failure}")
