"""Writes to the PostgreSQL store: one transaction per ingest or removal, under an advisory lock.

A crash (or ``kill -9``) anywhere leaves the previous state, because nothing is committed until
the end; two writers (two shells, two chat servers) serialise on the lock; readers see the
state before or after, never half a document. Chunks and postings go in through binary COPY.
"""

from __future__ import annotations

import json
import logging
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from rag.errors import StoreError, first_line
from rag.store.base import ChunkRow, IndexData, chunk_meta
from rag.store.postgres.schema import (
    DOC_COLUMNS,
    WRITE_LOCK,
    connect,
    doc_info,
    ensure_schema,
    read_layout,
    redact,
)

if TYPE_CHECKING:
    import numpy as np
    import psycopg

    from rag.store.base import DocInfo

log = logging.getLogger(__name__)

BULK_ROWS = 1_000  # into an empty store, at least this many rows: build HNSW after loading
HNSW_M = 16  # neighbours per node (2m on the bottom layer)
HNSW_OPTIONS = f"m = {HNSW_M}, ef_construction = 64"
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_FLUSH_BYTES = 8 << 20


@contextmanager
def write_transaction(url: str, build_memory_mb: int) -> Iterator[PgWriter]:
    """A :class:`PgWriter` inside one transaction that holds the store's write lock; an HNSW
    build may raise ``maintenance_work_mem`` up to ``build_memory_mb``."""
    import psycopg

    conn = connect(url)
    try:
        ensure_schema(conn, url)
        with conn.transaction():
            got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (WRITE_LOCK,)).fetchone()
            if not got[0]:
                log.warning("waiting for another ingest or removal on %s to finish", redact(url))
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield PgWriter(conn, build_memory_mb)
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise StoreError(
            f"PostgreSQL at {redact(url)} is read-only (a replica?); add and remove articles "
            "through the primary's URL"
        ) from exc
    except psycopg.Error as exc:
        raise StoreError(
            f"writing to PostgreSQL at {redact(url)} failed ({first_line(exc)}); nothing was "
            "changed, try again"
        ) from exc
    finally:
        conn.close()


class PgWriter:
    """The write operations of an ingest or a removal, on one locked transaction."""

    def __init__(self, conn: psycopg.Connection, build_memory_mb: int) -> None:
        self.conn = conn
        self.build_memory_mb = build_memory_mb
        self.layout = read_layout(conn)

    def documents(self) -> dict[str, DocInfo]:
        """Every stored document by id."""
        rows = self.conn.execute(f"SELECT {DOC_COLUMNS} FROM rag_documents d").fetchall()
        return {r[0]: doc_info(r) for r in rows}

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        """The stored texts of those of ``hashes`` the store holds."""
        sql = "SELECT hash, text FROM rag_contents WHERE hash = ANY(%s)"
        return dict(self.conn.execute(sql, (list(hashes),)).fetchall())

    def contents(self, hashes: Iterable[str]) -> set[str]:
        """Those of ``hashes`` the store holds (each with its chunks)."""
        sql = "SELECT hash FROM rag_contents WHERE hash = ANY(%s)"
        return {h for (h,) in self.conn.execute(sql, (list(hashes),)).fetchall()}

    def chunk_count(self) -> int:
        """Stored chunks."""
        return int(self.conn.execute("SELECT chunks FROM rag_stats").fetchone()[0])

    def clear(self) -> None:
        """Drop everything (``--rebuild``); the layout is set again by the ingest."""
        self.conn.execute("TRUNCATE rag_postings, rag_chunks, rag_contents, rag_documents")
        self.conn.execute("UPDATE rag_stats SET chunks = 0, tokens = 0")
        self.conn.execute("DELETE FROM rag_meta WHERE key = 'layout'")
        self.layout = None

    def set_layout(self, layout: dict[str, Any]) -> None:
        """Record the self-description; on a first write (or another dimension or vector type)
        give the embedding column its type and the HNSW index."""
        old = self.layout or {}
        if (old.get("dim"), old.get("vector_type")) != (layout["dim"], layout["vector_type"]):
            kind, dim = layout["vector_type"], int(layout["dim"])
            self.conn.execute("DROP INDEX IF EXISTS rag_chunks_hnsw")
            self.conn.execute("DELETE FROM rag_chunks")  # vectors of another shape cannot stay
            self.conn.execute("UPDATE rag_stats SET chunks = 0, tokens = 0")
            self.conn.execute(f"ALTER TABLE rag_chunks ALTER COLUMN embedding TYPE {kind}({dim})")
            self.create_hnsw(kind)
        self.conn.execute(
            "INSERT INTO rag_meta VALUES ('layout', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (json.dumps(layout),),
        )
        self.layout = layout

    def create_hnsw(self, kind: str | None = None) -> None:
        """The HNSW index on the embeddings (cosine)."""
        kind = kind or self.layout["vector_type"]
        self._size_build_memory(kind)
        self.conn.execute(
            "CREATE INDEX IF NOT EXISTS rag_chunks_hnsw ON rag_chunks "
            f"USING hnsw (embedding {kind}_cosine_ops) WITH ({HNSW_OPTIONS})"
        )

    def _size_build_memory(self, kind: str) -> None:
        """Let the build hold its whole graph (pgvector builds many times slower once the graph
        outgrows maintenance_work_mem): what the rows need, at least 512 MB, at most the cap;
        a larger server setting is kept."""
        rows = self.chunk_count()
        dim = int((self.layout or {}).get("dim") or 0)  # no layout yet: an empty table
        need_kb = hnsw_build_kb(rows, dim, kind == "halfvec")
        want_kb = min(max(need_kb, 512 * 1024), self.build_memory_mb * 1024)
        have_kb = self.conn.execute(
            "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'"
        ).fetchone()[0]
        if want_kb > have_kb:
            self.conn.execute(f"SET LOCAL maintenance_work_mem = '{int(want_kb)}kB'")
        if need_kb > max(want_kb, have_kb):
            log.warning(
                "the HNSW graph of %d chunks needs about %d MB but maintenance_work_mem allows "
                "%d MB; the build will be slow (raise RAG_PG_BUILD_MEMORY_MB)",
                rows, need_kb // 1024, max(want_kb, have_kb) // 1024,
            )  # fmt: skip

    def upsert_documents(self, docs: Iterable[DocInfo]) -> None:
        """Insert or update ``docs`` (their content must be stored by the end)."""
        sql = (
            "INSERT INTO rag_documents (id, title, hash, chunks, date, url, path, meta) "
            "VALUES (%(id)s, %(title)s, %(hash)s, %(chunks)s, %(date)s, %(url)s, %(path)s, "
            "%(meta)s) ON CONFLICT (id) DO UPDATE SET title = excluded.title, "
            "hash = excluded.hash, chunks = excluded.chunks, date = excluded.date, "
            "url = excluded.url, path = excluded.path, meta = excluded.meta"
        )
        rows = [{**asdict(d), "meta": json.dumps(_doc_meta(d))} for d in docs]
        with self.conn.cursor() as cur:
            cur.executemany(sql, rows)

    def delete_documents(self, ids: Iterable[str]) -> None:
        """Drop documents by id (their content goes with :meth:`drop_unused_contents`)."""
        self.conn.execute("DELETE FROM rag_documents WHERE id = ANY(%s)", (list(ids),))

    def put_contents(self, texts: dict[str, str]) -> None:
        """Insert, or replace the text of, the contents ``texts`` (hash -> text)."""
        sql = (
            "INSERT INTO rag_contents (hash, text) VALUES (%s, %s) "
            "ON CONFLICT (hash) DO UPDATE SET text = excluded.text"
        )
        with self.conn.cursor() as cur:
            cur.executemany(sql, list(texts.items()))

    def drop_unused_contents(self) -> None:
        """Delete the contents no document has any more, with their chunks."""
        unused = self.conn.execute(
            "SELECT hash FROM rag_contents c WHERE NOT EXISTS "
            "(SELECT 1 FROM rag_documents d WHERE d.hash = c.hash)"
        ).fetchall()
        hashes = [h for (h,) in unused]
        if hashes:
            self.delete_chunks(hashes)
            self.conn.execute("DELETE FROM rag_contents WHERE hash = ANY(%s)", (hashes,))

    def delete_chunks(self, hashes: Sequence[str] | None) -> None:
        """Delete the chunks (and postings) of the contents ``hashes``; None: every chunk."""
        if hashes is None:
            self.conn.execute("TRUNCATE rag_postings, rag_chunks")
            self.conn.execute("UPDATE rag_stats SET chunks = 0, tokens = 0")
            return
        if not hashes:
            return
        self.conn.execute(
            "WITH d AS (DELETE FROM rag_chunks WHERE hash = ANY(%s) RETURNING n_tokens) "
            "UPDATE rag_stats SET chunks = chunks - (SELECT count(*) FROM d), "
            "tokens = tokens - (SELECT coalesce(sum(n_tokens), 0) FROM d)",
            (list(hashes),),
        )

    def add_chunks(self, rows: Sequence[ChunkRow], vectors: np.ndarray) -> None:
        """Insert ``rows`` with their ``vectors`` and BM25 postings (binary COPY). Into an empty
        store, a large load drops the HNSW index first and builds it once at the end."""
        if not rows:
            return
        bulk = len(rows) >= BULK_ROWS and self.chunk_count() == 0
        if bulk:
            self.conn.execute("DROP INDEX IF EXISTS rag_chunks_hnsw")
        last = self.conn.execute(
            "SELECT setval('rag_chunks_id_seq', nextval('rag_chunks_id_seq') + %s - 1)",
            (len(rows),),
        ).fetchone()[0]
        ids = range(last - len(rows) + 1, last + 1)
        half = self.layout["vector_type"] == "halfvec"
        tokens = _copy_chunks(self.conn, ids, rows, vectors, half)
        _copy_postings(self.conn, ids, rows)
        self.conn.execute(
            "UPDATE rag_stats SET chunks = chunks + %s, tokens = tokens + %s", (len(rows), tokens)
        )
        if bulk:
            self.create_hnsw()
            for table in ("rag_contents", "rag_chunks", "rag_postings", "rag_documents"):
                self.conn.execute(f"ANALYZE {table}")  # plans for the new sizes right away


def hnsw_build_kb(rows: int, dim: int, half: bool = False) -> int:
    """Memory (KiB) an HNSW build of ``rows`` vectors holds: the vector, 2m layer-0 neighbours
    of 16 bytes (upper layers add little), the element itself; a quarter more to spare."""
    per_row = dim * (2 if half else 4) + 2 * HNSW_M * 16 + 256
    return rows * per_row * 5 // 4 // 1024


def _field(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _int4(value: int) -> bytes:
    return struct.pack(">ii", 4, value)


def _copy(conn: psycopg.Connection, sql: str, records: Iterator[bytes]) -> None:
    with conn.cursor() as cur, cur.copy(sql) as copy:
        buf = bytearray(_COPY_HEADER)
        for record in records:
            buf += record
            if len(buf) >= _FLUSH_BYTES:
                copy.write(bytes(buf))
                buf.clear()
        buf += _COPY_TRAILER
        copy.write(bytes(buf))


def _copy_chunks(
    conn: psycopg.Connection,
    ids: Sequence[int],
    rows: Sequence[ChunkRow],
    vectors: np.ndarray,
    half: bool,
) -> int:
    """COPY the chunk rows; returns their total BM25 length."""
    import numpy as np

    dim = vectors.shape[1]
    wire = np.ascontiguousarray(vectors, dtype=">f2" if half else ">f4")
    head = struct.pack(">hh", dim, 0)
    total = 0

    def records() -> Iterator[bytes]:
        nonlocal total
        for n, (cid, row) in enumerate(zip(ids, rows)):
            length = max(1, len(row.tokens))  # bm25s gives an empty chunk one placeholder token
            total += length
            meta = b"\x01" + json.dumps(chunk_meta(row), ensure_ascii=False).encode()
            yield b"".join(
                [
                    struct.pack(">hiq", 9, 8, cid),
                    _field(row.hash.encode()),
                    _int4(row.i),
                    _int4(row.start),
                    _int4(row.end),
                    _field(row.text.encode()),
                    _int4(length),
                    _field(meta),
                    _field(head + wire[n].tobytes()),
                ]
            )

    _copy(
        conn,
        "COPY rag_chunks (id, hash, i, start_char, end_char, text, n_tokens, meta, embedding) "
        "FROM STDIN (FORMAT BINARY)",
        records(),
    )
    return total


def _copy_postings(conn: psycopg.Connection, ids: Sequence[int], rows: Sequence[ChunkRow]) -> None:
    def records() -> Iterator[bytes]:
        for cid, row in zip(ids, rows):
            length = max(1, len(row.tokens))
            for term, tf in Counter(row.tokens).items():
                yield (
                    struct.pack(">h", 4)
                    + _field(term.encode())
                    + struct.pack(">iqiiii", 8, cid, 4, tf, 4, length)
                )

    _copy(conn, "COPY rag_postings (term, chunk, tf, len) FROM STDIN (FORMAT BINARY)", records())


def export_data(conn: psycopg.Connection, layout: dict[str, Any] | None) -> IndexData:
    """Everything in the store as :class:`rag.store.base.IndexData` (tokens rebuilt from the
    postings as a bag of terms, which BM25 scores the same)."""
    import numpy as np

    layout = layout or {}
    dim = int(layout.get("dim", 0))
    docs = {
        r[0]: doc_info(r)
        for r in conn.execute(f"SELECT {DOC_COLUMNS} FROM rag_documents d").fetchall()
    }
    texts = dict(conn.execute("SELECT hash, text FROM rag_contents").fetchall())
    tokens: dict[int, list[str]] = {}
    postings = conn.execute("SELECT chunk, term, tf FROM rag_postings ORDER BY chunk, term")
    for cid, term, tf in postings:
        tokens.setdefault(cid, []).extend([term] * tf)
    extra = {f.name for f in fields(ChunkRow)}
    wire = ">f2" if layout.get("vector_type") == "halfvec" else ">f4"
    rows, vectors = [], []
    with conn.cursor(binary=True) as cur:
        cur.execute(
            "SELECT id, hash, i, start_char, end_char, text, meta, embedding "
            "FROM rag_chunks ORDER BY id"
        )
        for cid, h, i, s, e, text, meta, emb in cur:
            more = {k: v for k, v in (meta or {}).items() if k in extra}
            rows.append(ChunkRow(h, i, s, e, text, tokens.get(cid, []), **more))
            vectors.append(np.frombuffer(emb, dtype=wire, offset=4).astype(np.float32))
    return IndexData(
        embed_model=layout.get("embed_model", ""),
        dim=dim,
        chunk_size=int(layout.get("chunk_size", 0)),
        chunk_overlap=int(layout.get("chunk_overlap", 0)),
        index_type="auto",
        docs=docs,
        rows=rows,
        texts=texts,
        vectors=np.stack(vectors) if vectors else np.zeros((0, dim), np.float32),
    )


def _doc_meta(doc: DocInfo) -> dict[str, Any]:
    """What ``rag_documents.meta`` keeps of ``doc`` (what has no column of its own)."""
    return {"instructions": doc.instructions} if doc.instructions else {}
