"""PostgreSQL's write side: a write plan applied as targeted changes in one transaction, under
the store's advisory lock (:func:`rag.store.postgres.tables.write_transaction`). Nothing is
committed until the end, so a crash leaves the previous state and readers never see half a
document."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rag.errors import IndexStateError
from rag.store.base import StoreInfo, StoreWriter, WritePlan
from rag.store.postgres.schema import SCHEMA_VERSION, has_halfvec, redact

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.store.base import DocInfo
    from rag.store.postgres.tables import PgWriter


def layout_for(
    chunk_size: int, chunk_overlap: int, embed_model: str, dim: int, vector_type: str
) -> dict[str, Any]:
    """The self-description stored in ``rag_meta``."""
    return {
        "embed_model": embed_model,
        "dim": dim,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "vector_type": vector_type,
        "format_version": SCHEMA_VERSION,
    }


def vector_type(writer: PgWriter, settings: Settings) -> str:
    """``halfvec`` when asked for (or ``auto`` and the server's pgvector has it), else
    ``vector``."""
    wanted = settings.pg_vector
    if wanted == "vector":
        return "vector"
    available = has_halfvec(writer.conn)
    if wanted == "halfvec" and not available:
        raise IndexStateError(
            "RAG_PG_VECTOR=halfvec needs pgvector 0.7 or later on the server; "
            "upgrade pgvector or set RAG_PG_VECTOR=vector"
        )
    return "halfvec" if available else "vector"


def _check_embedder(writer: PgWriter, settings: Settings) -> None:
    from rag.embeddings import canonical_name

    built = (writer.layout or {}).get("embed_model")
    wanted = canonical_name(settings.embed_model)
    if built and built != wanted:
        where = redact(str(settings.store))
        raise IndexStateError(
            f"the store at {where} was built with embedder {built!r}, not {wanted!r}; "
            f"set RAG_EMBED_MODEL={built} or pass --rebuild to start over"
        )


@contextmanager
def open_writer(settings: Settings, rebuild: bool = False) -> Iterator[PostgresWriter]:
    """The writer of the store at ``settings.store``, in one transaction holding its write
    lock; with ``rebuild`` everything stored is dropped first (in the same transaction)."""
    from rag.store.postgres.search import PostgresStore

    store = PostgresStore(str(settings.store), settings.pg_ef_search, settings.pg_build_memory_mb)
    with store.writing() as tables:
        if rebuild:
            tables.clear()
        _check_embedder(tables, settings)
        yield PostgresWriter(tables, settings)


class PostgresWriter(StoreWriter):
    """A write plan applied through the table writes ``tables`` of one locked transaction."""

    def __init__(self, tables: PgWriter, settings: Settings) -> None:
        self.tables = tables
        self.settings = settings
        self._documents: dict[str, DocInfo] | None = None

    def info(self) -> StoreInfo | None:
        """Embedder and chunking from ``rag_meta``; None while the store holds no index."""
        lay = self.tables.layout
        if lay is None:
            return None
        return StoreInfo(
            "postgres", redact(str(self.settings.store)), lay["embed_model"], int(lay["dim"]),
            lay["chunk_size"], lay["chunk_overlap"], SCHEMA_VERSION,
        )  # fmt: skip

    def describe_empty(self) -> str:
        """``the store at URL holds no index``."""
        return f"the store at {redact(str(self.settings.store))} holds no index"

    def documents(self) -> dict[str, DocInfo]:
        """The stored documents by id (read once per transaction)."""
        if self._documents is None:
            self._documents = self.tables.documents()
        return dict(self._documents)

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        """The stored texts of those of ``hashes`` the store holds."""
        return self.tables.texts(hashes)

    def chunk_count(self) -> int:
        """Stored chunks."""
        return self.tables.chunk_count()

    def _same_chunking(self, chunk_size: int, chunk_overlap: int) -> bool:
        lay = self.tables.layout
        return bool(lay) and (lay["chunk_size"], lay["chunk_overlap"]) == (
            chunk_size,
            chunk_overlap,
        )

    def same_layout(self) -> bool:
        """The chunking of the settings is the store's (HNSW has nothing to choose)."""
        return self._same_chunking(self.settings.chunk_size, self.settings.chunk_overlap)

    def reusable(self, hashes: Set[str]) -> set[str]:
        """Those of ``hashes`` stored, when the chunking is the settings'."""
        return self.tables.contents(hashes) if self.same_layout() else set()

    def apply(self, plan: WritePlan) -> None:
        """Write the changes: documents, the fresh contents with their chunks and vectors;
        contents no document has any more go, with their chunks."""
        tables = self.tables
        before = self._documents if self._documents is not None else tables.documents()
        same = self._same_chunking(plan.chunk_size, plan.chunk_overlap)
        kind = (tables.layout or {}).get("vector_type") or vector_type(tables, self.settings)
        tables.set_layout(
            layout_for(plan.chunk_size, plan.chunk_overlap, plan.embed_model, plan.dim, kind)
        )
        counts = {d.hash: d.chunks for d in before.values()}
        counts.update(dict.fromkeys(plan.fresh, 0))
        for r in plan.rows:
            counts[r.hash] += 1
        for d in plan.docs.values():
            d.chunks = counts.get(d.hash, 0)
        tables.delete_documents(set(before) - set(plan.docs))
        tables.upsert_documents([d for k, d in plan.docs.items() if before.get(k) != d])
        tables.drop_unused_contents()
        tables.delete_chunks(sorted(plan.fresh) if same else None)
        tables.put_contents(plan.texts)
        if plan.rows:
            tables.add_chunks(plan.rows, plan.vectors)
