"""Where the index lives, chosen by one setting, ``RAG_STORE``: the index folder (the default,
:mod:`rag.store.folder`) or PostgreSQL with pgvector (:mod:`rag.store.postgres`).

A backend is a module (or package) with two functions, ``open_store(location, embed_model,
ef_search) -> Store`` (the read side) and ``open_writer(settings, rebuild) -> StoreWriter``
(the write side, a context manager holding the store's lock); both interfaces are in
:mod:`rag.store.base`. A location that starts with one of a backend's prefixes is that
backend's; any other is an index folder. A new backend is a new module and one line in
:data:`BACKENDS`.

Nothing heavy is imported here: ``rag --help`` stays instant and psycopg is loaded only when a
PostgreSQL URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.store.base import PG_SCHEMES

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import ModuleType

    from rag.settings import Settings
    from rag.store.base import Store, StoreWriter

BACKENDS: dict[str, tuple[str, ...]] = {  # backend module -> the location prefixes it serves
    "rag.store.postgres": PG_SCHEMES,
}
FOLDER_BACKEND = "rag.store.folder"  # every other location


def backend(location: str | None) -> ModuleType:
    """The backend module of ``location`` (imported now)."""
    import importlib

    name = next(
        (m for m, prefixes in BACKENDS.items() if location and str(location).startswith(prefixes)),
        FOLDER_BACKEND,
    )
    return importlib.import_module(name)


def is_database_url(location: str | None) -> bool:
    """Whether ``location`` is a PostgreSQL URL (else it is an index folder)."""
    return bool(location) and str(location).startswith(PG_SCHEMES)


def is_postgres(settings: Settings) -> bool:
    """Whether ``settings`` select the PostgreSQL store."""
    return is_database_url(settings.store)


def store_key(settings: Settings) -> str:
    """A name for the store ``settings`` select: its URL, or the index folder's full path."""
    from pathlib import Path

    if is_postgres(settings):
        return str(settings.store)
    return str(Path(settings.index_dir).resolve())


def open_store(location: str, embed_model: str | None = None, ef_search: int = 100) -> Store:
    """Load the store at ``location`` (a folder or a ``postgresql://`` URL), checked against
    ``embed_model`` when given."""
    return backend(location).open_store(location, embed_model, ef_search)


def open_writer(settings: Settings, rebuild: bool = False) -> AbstractContextManager[StoreWriter]:
    """The writer of the store ``settings`` select (``settings.store``, else the folder
    ``settings.index_dir``), holding its write lock for the ``with`` block; with ``rebuild``
    what the store held is dropped."""
    return backend(settings.store).open_writer(settings, rebuild)
