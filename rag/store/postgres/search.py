"""PostgreSQL with pgvector as the store, the read side: many processes share one index, and
it grows past one machine (README, "A shared store on PostgreSQL").

Dense search is pgvector's HNSW index (cosine); BM25 is computed in SQL from the tokens of the
project's own analyzer (``rag_postings``), with bm25s' formula (Lucene idf, k1 1.2, b 0.75), so
a ranking equals the folder store's. Each thread reads through its own connection; a search runs
in one repeatable-read transaction (:meth:`PostgresStore.snapshot`), so a document written
meanwhile by another process is seen whole or not at all, and on the next search.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rag.errors import IndexStateError, StoreError, first_line
from rag.store.base import BM25_B, BM25_K1, Store, StoredChunk, StoreInfo
from rag.store.postgres.schema import (
    DOC_COLUMNS,
    SCHEMA_VERSION,
    connect,
    doc_info,
    ensure_schema,
    read_layout,
    redact,
)

if TYPE_CHECKING:
    import numpy as np
    import psycopg

    from rag.store.base import DocInfo, IndexData
    from rag.store.postgres.tables import PgWriter

K1, B = BM25_K1, BM25_B

_BM25 = f"""
    SELECT p.chunk, sum(w.idf * p.tf / (p.tf + {K1} * (1 - {B} + {B} * p.len / %(avgdl)s)))
    FROM unnest(%(terms)s::text[], %(idf)s::float8[]) AS w (term, idf)
    JOIN rag_postings p ON p.term = w.term
    {{where}}
    GROUP BY p.chunk ORDER BY 2 DESC, p.chunk {{limit}}"""


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector: ``[0.1,0.2,...]``."""
    return "[" + ",".join(map(repr, vector.astype(float).tolist())) + "]"


class PostgresStore(Store):
    """The index in a PostgreSQL database (``postgresql://`` URL)."""

    def __init__(self, url: str, ef_search: int = 100, build_memory_mb: int | None = None) -> None:
        from rag.settings import get_settings

        self.url = url
        self.ef_search = ef_search
        self.build_memory_mb = build_memory_mb or get_settings().pg_build_memory_mb
        self._local = threading.local()
        conn = connect(url)
        try:
            ensure_schema(conn, url)
            self.layout = read_layout(conn)
        finally:
            conn.close()

    @classmethod
    def open(cls, url: str, embed_model: str | None = None, ef_search: int = 100) -> PostgresStore:
        """Open and check the store at ``url``: it must hold an index, built with
        ``embed_model`` when given (one-line IndexStateError otherwise)."""
        store = cls(url, ef_search)
        where = redact(url)
        if store.layout is None:
            raise IndexStateError(
                f"the store at {where} holds no index yet; fill it with "
                f"`rag ingest seeds/ --store {where}` or `rag store copy --from index --to URL`"
            )
        if embed_model is not None:
            from rag.embeddings import canonical_name

            wanted, built = canonical_name(embed_model), store.layout["embed_model"]
            if wanted != built:
                raise IndexStateError(
                    f"the store at {where} was built with embedder {built!r}, not {wanted!r}; "
                    f"set RAG_EMBED_MODEL={built} or rebuild it with "
                    f"`rag ingest --rebuild PATH... --store {where}`"
                )
        return store

    # --- connections ---------------------------------------------------------------------

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.url)
            conn.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def _rows(self, sql: str, params: Any = None, binary: bool = False) -> list[tuple]:
        import psycopg

        conn = self._conn()
        try:
            with conn.cursor(binary=binary) as cur:
                return cur.execute(sql, params).fetchall()
        except psycopg.OperationalError as exc:
            conn.close()  # the next call reconnects
            raise StoreError(
                f"lost the connection to PostgreSQL at {redact(self.url)} ({first_line(exc)}); "
                "check the server and try again"
            ) from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One repeatable-read, read-only transaction around the block (re-entrant)."""
        conn = self._conn()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        self._local.depth = 1
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield
        finally:
            self._local.depth = 0

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    @contextmanager
    def writing(self) -> Iterator[PgWriter]:
        """The table writes of one transaction holding the store's write lock (see
        :mod:`rag.store.postgres.tables`)."""
        from rag.store.postgres.tables import write_transaction

        with write_transaction(self.url, self.build_memory_mb) as writer:
            yield writer
        self.layout = writer.layout or self.layout

    # --- the store interface -------------------------------------------------------------

    @property
    def embed_model(self) -> str:
        """Name of the embedder the vectors came from."""
        return self.layout["embed_model"] if self.layout else ""

    def describe(self) -> StoreInfo:
        """Embedder, chunking and schema version from ``rag_meta``."""
        lay = self.layout or {}
        return StoreInfo(
            "postgres", redact(self.url), lay.get("embed_model", ""), lay.get("dim", 0),
            lay.get("chunk_size", 0), lay.get("chunk_overlap", 0), SCHEMA_VERSION,
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self._rows("SELECT chunks FROM rag_stats")[0][0])

    def documents(self) -> list[DocInfo]:
        """Every document, sorted by id."""
        rows = self._rows(f"SELECT {DOC_COLUMNS} FROM rag_documents d ORDER BY d.id")
        return [doc_info(r) for r in rows]

    def document_text(self, doc_id: str) -> str:
        """The cleaned text of ``doc_id``."""
        rows = self._rows(
            "SELECT c.text FROM rag_documents d JOIN rag_contents c ON c.hash = d.hash "
            "WHERE d.id = %s",
            (doc_id,),
        )
        if not rows:
            raise IndexStateError(f"no document {doc_id!r} in the index; see `rag ingest`")
        return rows[0][0]

    def same_content(self, doc_id: str) -> list[str]:
        """Ids of the documents stored as the same text as ``doc_id``."""
        rows = self._rows(
            "SELECT id FROM rag_documents WHERE hash = "
            "(SELECT hash FROM rag_documents WHERE id = %s) ORDER BY id",
            (doc_id,),
        )
        return [r[0] for r in rows] or [doc_id]

    def _cast(self) -> str:
        return "halfvec" if (self.layout or {}).get("vector_type") == "halfvec" else "vector"

    def dense_top(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The ``n`` nearest rows through the HNSW index (cosine)."""
        cast = self._cast()
        rows = self._rows(
            f"SELECT id, 1 - (embedding <=> %(v)s::{cast}) FROM rag_chunks "
            f"ORDER BY embedding <=> %(v)s::{cast} LIMIT %(n)s",
            {"v": vector_literal(vector), "n": n},
        )
        return [(int(r), float(s)) for r, s in rows]

    def _weights(self, tokens: list[str]) -> dict[str, Any]:
        """BM25's query side as bm25s computes it: each distinct term's idf (Lucene's), times
        how often the query holds it, and the average chunk length."""
        import math
        from collections import Counter

        counts = Counter(tokens)
        with self.snapshot():
            n, total = self._rows("SELECT chunks, tokens FROM rag_stats")[0]
            df = self.document_frequencies(list(counts))
        terms = [t for t in counts if df[t]]
        idf = [counts[t] * math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms]
        return {"terms": terms, "idf": idf, "avgdl": total / max(n, 1)}

    def lexical_top(self, tokens: list[str], n: int) -> list[tuple[int, float]]:
        """The ``n`` best rows by BM25, computed in SQL from the stored analyzer tokens."""
        if not tokens or n <= 0:
            return []
        params = self._weights(tokens)
        if not params["terms"]:
            return []
        sql = _BM25.format(where="", limit="LIMIT %(n)s")
        rows = self._rows(sql, {**params, "n": n})
        return [(int(r), float(s)) for r, s in rows if s > 0]

    def lexical_scores(self, tokens: list[str], rows: Sequence[int]) -> dict[int, float]:
        """BM25 score of each of ``rows`` (0 when it holds no query term)."""
        scores = dict.fromkeys((int(r) for r in rows), 0.0)
        if tokens and scores:
            sql = _BM25.format(where="WHERE p.chunk = ANY(%(rows)s)", limit="")
            for r, s in self._rows(sql, {**self._weights(tokens), "rows": list(scores)}):
                scores[int(r)] = float(s)
        return scores

    def document_frequencies(self, tokens: list[str]) -> dict[str, int]:
        """How many chunks hold each of ``tokens``."""
        df = dict.fromkeys(tokens, 0)
        if tokens:
            sql = "SELECT term, count(*) FROM rag_postings WHERE term = ANY(%s) GROUP BY term"
            df.update({t: int(c) for t, c in self._rows(sql, (list(df),))})
        return df

    def _chunk_query(self, where: str, with_vector: bool) -> str:
        dense = f"1 - (c.embedding <=> %(v)s::{self._cast()})" if with_vector else "NULL"
        return (
            "SELECT c.id, c.i, c.start_char, c.end_char, c.text, c.meta, "
            f"{dense}, {DOC_COLUMNS} FROM rag_chunks c CROSS JOIN LATERAL "
            "(SELECT * FROM rag_documents d WHERE d.hash = c.hash ORDER BY d.id LIMIT 1) d "
            f"{where}"
        )

    def chunks(self, rows: Sequence[int], vector: np.ndarray | None = None) -> list[StoredChunk]:
        """The chunks at ``rows``, in that order."""
        if not len(rows):
            return []
        params: dict[str, Any] = {"rows": [int(r) for r in rows]}
        if vector is not None:
            params["v"] = vector_literal(vector)
        sql = self._chunk_query("WHERE c.id = ANY(%(rows)s)", vector is not None)
        found = {r.row: r for r in map(_stored_chunk, self._rows(sql, params))}
        return [found[int(r)] for r in rows if int(r) in found]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk, in row order."""
        sql = self._chunk_query("ORDER BY c.id", False)
        yield from map(_stored_chunk, self._rows(sql))

    def export(self) -> IndexData:
        """Everything stored (documents, texts, chunks with their tokens, vectors)."""
        from rag.store.postgres.tables import export_data

        with self.snapshot():
            return export_data(self._conn(), self.layout)


def _stored_chunk(r: Sequence[Any]) -> StoredChunk:
    doc = doc_info(r[7:])
    return StoredChunk(
        row=int(r[0]),
        chunk_id=f"{doc.id}#{r[1]}",
        doc=doc,
        text=r[4],
        start=r[2],
        end=r[3],
        dense=None if r[6] is None else float(r[6]),
        meta=r[5] if isinstance(r[5], dict) else json.loads(r[5] or "{}"),
    )
