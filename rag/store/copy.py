"""``rag store copy``: move an index between stores (folder <-> PostgreSQL) as it is: documents,
texts, chunks with their tokens and metadata, and vectors. Nothing is embedded again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.store import is_database_url, open_store

if TYPE_CHECKING:
    from rag.index import IndexData
    from rag.settings import Settings


@dataclass
class CopySummary:
    """What a copy moved and how long it took."""

    documents: int
    chunks: int
    seconds: float
    target: str

    def line(self) -> str:
        """A one-line human summary."""
        rate = self.chunks / self.seconds if self.seconds else 0.0
        return (
            f"copied {self.documents} documents, {self.chunks} chunks to {self.target} "
            f"in {self.seconds:.1f} s ({rate:.0f} chunks/s), nothing embedded"
        )


def copy_store(source: str, target: str, settings: Settings) -> CopySummary:
    """Copy the index at ``source`` to ``target`` (each a folder or a ``postgresql://`` URL),
    replacing what ``target`` held, in one transaction or one folder swap."""
    from rag.store.schema import redact

    started = time.perf_counter()
    data = open_store(source).export()
    if is_database_url(target):
        write_postgres(data, target, settings)
        shown = redact(target)
    else:
        write_folder(data, Path(target), settings)
        shown = f"{target}/"
    return CopySummary(len(data.docs), len(data.rows), time.perf_counter() - started, shown)


def write_postgres(data: IndexData, url: str, settings: Settings) -> None:
    """Replace the content of the PostgreSQL store at ``url`` by ``data``."""
    import numpy as np

    from rag.store.pg_ingest import layout_for, vector_type
    from rag.store.postgres import PostgresStore

    layout_settings = settings.merged(chunk_size=data.chunk_size, chunk_overlap=data.chunk_overlap)
    with PostgresStore(url, settings.pg_ef_search, settings.pg_build_memory_mb).writing() as writer:
        writer.clear()
        kind = vector_type(writer, settings)
        writer.set_layout(layout_for(layout_settings, data.embed_model, data.dim, kind))
        writer.put_contents(data.texts)
        writer.add_chunks(data.rows, np.asarray(data.vectors, dtype=np.float32))
        writer.upsert_documents(data.docs.values())


def write_folder(data: IndexData, path: Path, settings: Settings) -> None:
    """Replace the index folder at ``path`` by ``data`` (FAISS and BM25 built anew)."""
    from rag.index import choose_index_type, write_index
    from rag.ingest import write_lock

    data.index_type = choose_index_type(settings.index_type, len(data.rows), settings.ann_threshold)
    with write_lock(path):
        write_index(path, data)
