"""State stores: the interface lives in `base`, the embedded SQLite backend in `sqlite`."""

from __future__ import annotations

from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from dockline.store.base import Store


def open_store(root: str) -> Store:
    """Open (creating if needed) the state store kept in directory `root`."""
    # Imported here so that modules wanting only the `base` types do not pay for sqlite3.
    from dockline.store.sqlite import SqliteStore

    return SqliteStore(root)
