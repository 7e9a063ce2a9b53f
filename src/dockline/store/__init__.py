"""State stores: the interface lives in `base`, the embedded SQLite backend in `sqlite`."""

from __future__ import annotations

from dockline.store.base import Store
from dockline.store.sqlite import SqliteStore


def open_store(root: str) -> Store:
    """Open (creating if needed) the state store kept in directory `root`."""
    return SqliteStore(root)
