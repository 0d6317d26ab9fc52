"""Where the index lives: a folder (the default, :mod:`rag.store.folder`) or PostgreSQL with
pgvector (:mod:`rag.store.postgres`), chosen by one setting, ``RAG_STORE``.

Nothing heavy is imported here: ``rag --help`` stays instant and psycopg is loaded only when a
PostgreSQL URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.store.base import PG_SCHEMES

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.store.base import Store


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
    if is_database_url(location):
        from rag.store.postgres import PostgresStore

        return PostgresStore.open(location, embed_model, ef_search)
    from rag.index import Index

    return Index.load(location, embed_model)
