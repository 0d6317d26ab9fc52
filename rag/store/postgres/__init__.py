"""PostgreSQL with pgvector as the store (``RAG_STORE=postgresql://...``): many processes share
one index, and it grows past one machine (README, "A shared store on PostgreSQL").

- :mod:`rag.store.postgres.schema`: the tables, their migrations, connecting;
- :mod:`rag.store.postgres.search`: the read side, :class:`PostgresStore`;
- :mod:`rag.store.postgres.tables`: the table writes of one locked transaction (``PgWriter``);
- :mod:`rag.store.postgres.writer`: the write side, a write plan applied through them.

psycopg is imported only when a store is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.store.postgres.search import PostgresStore

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rag.settings import Settings
    from rag.store.base import Store, StoreWriter

__all__ = ["PostgresStore", "open_store", "open_writer"]


def open_store(location: str, embed_model: str | None = None, ef_search: int = 100) -> Store:
    """Open and check the store at the URL ``location``."""
    return PostgresStore.open(location, embed_model, ef_search)


def open_writer(settings: Settings, rebuild: bool = False) -> AbstractContextManager[StoreWriter]:
    """The writer of the store at ``settings.store``, in one locked transaction."""
    from rag.store.postgres.writer import open_writer as postgres_writer

    return postgres_writer(settings, rebuild)
