"""Incremental ingest and removal on the PostgreSQL store, with the folder store's behaviour:
unchanged documents cost nothing, a changed one is replaced, identical content under two ids is
stored (and embedded) once, and removing never re-embeds. The planning is ``rag.ingest``'s own
(:func:`rag.ingest.plan`); only the write differs: one transaction of targeted changes instead
of a new folder.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rag.errors import IndexStateError, InputError
from rag.store.schema import redact

if TYPE_CHECKING:
    from rag.documents import Document
    from rag.index import DocInfo
    from rag.ingest import IngestSummary, Progress
    from rag.settings import Settings
    from rag.store.pg_write import PgWriter


def layout_for(settings: Settings, embed_model: str, dim: int, vector_type: str) -> dict[str, Any]:
    """The self-description stored in ``rag_meta``."""
    from rag.store.schema import SCHEMA_VERSION

    return {
        "embed_model": embed_model,
        "dim": dim,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "vector_type": vector_type,
        "format_version": SCHEMA_VERSION,
    }


def vector_type(writer: PgWriter, settings: Settings) -> str:
    """``halfvec`` when asked for (or ``auto`` and the server's pgvector has it), else
    ``vector``."""
    from rag.store.schema import has_halfvec

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


def ingest_documents(
    docs: list[Document],
    settings: Settings,
    prune: bool,
    rebuild: bool,
    progress: Progress | None,
    started: float,
) -> IngestSummary:
    """Add or update ``docs`` in the store (and with ``prune`` drop the others)."""
    from rag.ingest import _described, plan
    from rag.store.postgres import PostgresStore

    store = PostgresStore(str(settings.store), settings.pg_ef_search, settings.pg_build_memory_mb)
    with store.writing() as writer:
        if rebuild:
            writer.clear()
        _check_embedder(writer, settings)
        previous = writer.documents()
        current = dict(previous)
        texts = writer.texts({d.content_hash for d in docs})
        summary, respaced = plan(docs, current, texts, prune)
        lay = writer.layout
        same_chunking = bool(lay) and (lay["chunk_size"], lay["chunk_overlap"]) == (
            settings.chunk_size,
            settings.chunk_overlap,
        )
        if (
            same_chunking
            and not (summary.added or summary.updated or summary.removed)
            and _described(previous) == _described(current)
        ):
            summary.documents, summary.chunks = len(current), writer.chunk_count()
        else:
            _apply(writer, previous, current, texts, respaced, same_chunking, settings, summary,
                   progress)  # fmt: skip
    summary.seconds = time.perf_counter() - started
    return summary


def _apply(
    writer: PgWriter,
    previous: dict[str, DocInfo],
    current: dict[str, DocInfo],
    texts: dict[str, str],
    respaced: set[str],
    same_chunking: bool,
    settings: Settings,
    summary: IngestSummary,
    progress: Progress | None,
) -> None:
    """Write the changes: documents, new or respaced contents with their chunks and vectors;
    contents no document has any more go, with their chunks."""
    from rag.ingest import _chunk_rows, _embed_rows

    wanted = {d.hash for d in current.values()}
    stored = set(writer.texts(wanted)) if same_chunking else set()
    fresh = (wanted - stored) | (respaced & wanted)
    missing = fresh - set(texts)
    if missing:  # chunking changed: documents not given this time are chunked anew too
        texts.update(writer.texts(missing))
    new_rows = _chunk_rows(current, texts, fresh, settings)
    t0 = time.perf_counter()
    vectors, embed_name, dim = (None, None, None)
    if new_rows:
        vectors, embed_name, dim = _embed_rows(new_rows, None, settings, progress)
    summary.embed_seconds = time.perf_counter() - t0
    if writer.layout is None and embed_name is None:
        from rag.embeddings import get_embedder

        embedder = get_embedder(settings.embed_model)
        embed_name, dim = embedder.name, embedder.dim
    lay = writer.layout or {}
    writer.set_layout(
        layout_for(
            settings,
            embed_name or lay["embed_model"],
            dim or lay["dim"],
            lay.get("vector_type") or vector_type(writer, settings),
        )
    )
    counts = {d.hash: d.chunks for d in previous.values()}
    counts.update(dict.fromkeys(fresh, 0))
    for r in new_rows:
        counts[r.hash] += 1
    for d in current.values():
        d.chunks = counts.get(d.hash, 0)
    writer.delete_documents(set(previous) - set(current))
    writer.upsert_documents([d for k, d in current.items() if previous.get(k) != d])
    writer.drop_unused_contents()
    writer.delete_chunks(None if not same_chunking else sorted(fresh & stored))
    writer.put_contents({h: texts[h] for h in fresh})
    if new_rows:
        writer.add_chunks(new_rows, vectors)
    summary.documents = len(current)
    summary.chunks = writer.chunk_count()
    summary.new_chunks = len(new_rows)


def remove_documents(ids: list[str], settings: Settings, started: float) -> IngestSummary:
    """Drop documents by id; their content goes when no other document has it. No embedding."""
    from rag.ingest import IngestSummary
    from rag.store.postgres import PostgresStore

    store = PostgresStore(str(settings.store), settings.pg_ef_search, settings.pg_build_memory_mb)
    with store.writing() as writer:
        if writer.layout is None:
            raise IndexStateError(
                f"the store at {redact(str(settings.store))} holds no index; nothing to remove"
            )
        stored = writer.documents()
        unknown = [i for i in ids if i not in stored]
        if unknown:
            raise InputError(
                f"no document {', '.join(map(repr, unknown))} in the index; "
                "`rag docs` lists the ids"
            )
        writer.delete_documents(ids)
        writer.drop_unused_contents()
        summary = IngestSummary(removed=len(ids))
        summary.documents = len(stored) - len(set(ids))
        summary.chunks = writer.chunk_count()
    summary.seconds = time.perf_counter() - started
    return summary
