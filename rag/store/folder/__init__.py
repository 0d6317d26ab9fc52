"""The index folder as a store (the default backend): FAISS vectors, the chunk table, BM25 and a
manifest in one folder, read whole into memory and written by swapping in a new folder.

- :mod:`rag.store.folder.search`: the read side, :class:`FolderStore`;
- :mod:`rag.store.folder.index`: the files, loaded (:class:`Index`) and written (``write_index``);
- :mod:`rag.store.folder.writer`: the write side, :class:`FolderWriter` and the write lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.store.folder.search import FolderStore

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rag.settings import Settings
    from rag.store.base import Store, StoreWriter

__all__ = ["FolderStore", "open_store", "open_writer"]


def open_store(location: str, embed_model: str | None = None, ef_search: int = 100) -> Store:
    """Load and check the index folder at ``location`` (``ef_search`` is PostgreSQL's)."""
    from rag.store.folder.index import Index

    return Index.load(location, embed_model)


def open_writer(settings: Settings, rebuild: bool = False) -> AbstractContextManager[StoreWriter]:
    """The writer of ``settings.index_dir``, holding its write lock."""
    from rag.store.folder.writer import open_writer as folder_writer

    return folder_writer(settings, rebuild)
