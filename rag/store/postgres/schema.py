"""The PostgreSQL schema of the shared store, created and versioned by the project.

Migrations are numbered SQL scripts applied in order, each in the transaction that records it
in ``rag_schema``; an advisory lock keeps two processes from migrating at once. A database whose
schema is newer than this version knows is refused (one line: upgrade rag).

Tables: ``rag_documents`` (one row per document id), ``rag_contents`` (each distinct cleaned
text once, keyed by its hash), ``rag_chunks`` (text, offsets, JSONB metadata, the pgvector
embedding), ``rag_postings`` (the project's own analyzer tokens: term, chunk, term frequency,
chunk length) for BM25, ``rag_stats`` (chunk and token counts, for BM25's average length) and
``rag_meta`` (the self-description: embedder, dimension, chunking, vector type).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.errors import StoreError, first_line
from rag.store.base import DocInfo

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# Advisory lock keys (any two bigints the application owns).
MIGRATE_LOCK = 0x7261_6701  # "rag" 1
WRITE_LOCK = 0x7261_6702  # "rag" 2

MIGRATIONS: list[str] = [
    # 1: documents, contents, chunks, postings, stats, self-description
    """
    CREATE TABLE rag_meta (key text PRIMARY KEY, value jsonb NOT NULL);
    CREATE TABLE rag_documents (
        id text COLLATE "C" PRIMARY KEY,
        title text NOT NULL DEFAULT '',
        hash text NOT NULL,
        chunks integer NOT NULL DEFAULT 0,
        date text,
        url text,
        path text,
        meta jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX rag_documents_hash ON rag_documents (hash, id);
    CREATE TABLE rag_contents (hash text PRIMARY KEY, text text NOT NULL);
    CREATE TABLE rag_chunks (
        id bigserial PRIMARY KEY,
        hash text NOT NULL REFERENCES rag_contents (hash) ON DELETE CASCADE,
        i integer NOT NULL,
        start_char integer NOT NULL,
        end_char integer NOT NULL,
        text text NOT NULL,
        n_tokens integer NOT NULL,
        meta jsonb NOT NULL DEFAULT '{}',
        embedding vector
    );
    CREATE INDEX rag_chunks_hash ON rag_chunks (hash, i);
    CREATE TABLE rag_postings (
        term text COLLATE "C" NOT NULL,
        chunk bigint NOT NULL REFERENCES rag_chunks (id) ON DELETE CASCADE,
        tf integer NOT NULL,
        len integer NOT NULL,
        PRIMARY KEY (term, chunk)
    );
    CREATE INDEX rag_postings_chunk ON rag_postings (chunk);
    CREATE TABLE rag_stats (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        chunks bigint NOT NULL,
        tokens bigint NOT NULL
    );
    INSERT INTO rag_stats VALUES (true, 0, 0);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

DOC_COLUMNS = "d.id, d.title, d.hash, d.chunks, d.date, d.url, d.path, d.meta"  # of rag_documents d


def doc_info(row: Sequence[Any]) -> DocInfo:
    """A DocInfo from the columns :data:`DOC_COLUMNS`."""
    meta = row[7] if isinstance(row[7], dict) else json.loads(row[7] or "{}")
    return DocInfo(
        id=row[0], title=row[1], hash=row[2], chunks=row[3], date=row[4], url=row[5], path=row[6],
        instructions=int(meta.get("instructions", 0)),
    )  # fmt: skip


def read_layout(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The store's self-description from ``rag_meta`` (None while it holds no index)."""
    row = conn.execute("SELECT value FROM rag_meta WHERE key = 'layout'").fetchone()
    return row[0] if row else None


def redact(url: str) -> str:
    """``url`` without its password (for messages)."""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    """A connection to ``url`` (autocommit); one-line errors when psycopg is not installed or
    the server cannot be reached."""
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            "RAG_STORE is a PostgreSQL URL but psycopg is not installed; "
            "run `pip install -e '.[pg]'` (make setup does)"
        ) from exc
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot reach PostgreSQL at {redact(url)} ({first_line(exc)}); start the server "
            "or fix RAG_STORE / --store"
        ) from exc


def ensure_schema(conn: psycopg.Connection, url: str) -> int:
    """Create pgvector and apply the migrations this version knows that the database lacks;
    returns the schema version. Refuses a schema newer than :data:`SCHEMA_VERSION`."""
    version = _version(conn)
    if version == SCHEMA_VERSION:
        return version
    if version > SCHEMA_VERSION:
        raise _too_new(url, version)
    _create_vector(conn, url)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS rag_schema ("
            " version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM rag_schema").fetchone()
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise _too_new(url, version)
        for n in range(version, SCHEMA_VERSION):
            log.info("applying store migration %d", n + 1)
            conn.execute(MIGRATIONS[n])
            conn.execute("INSERT INTO rag_schema (version) VALUES (%s)", (n + 1,))
    return SCHEMA_VERSION


def _version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass('rag_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM rag_schema").fetchone()[0])


def _too_new(url: str, version: int) -> StoreError:
    return StoreError(
        f"the store at {redact(url)} has schema version {version}, newer than this version of "
        f"rag knows ({SCHEMA_VERSION}); upgrade rag"
    )


def _create_vector(conn: psycopg.Connection, url: str) -> None:
    import psycopg

    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError(
            f"the pgvector extension is not enabled in {redact(url)} and this user may not "
            "enable it; ask an administrator to run `CREATE EXTENSION vector`"
        ) from exc
    except psycopg.Error as exc:
        raise StoreError(
            f"the pgvector extension is missing on the server at {redact(url)} "
            f"({first_line(exc)}); install pgvector (Debian: postgresql-16-pgvector)"
        ) from exc


def vector_version(conn: psycopg.Connection) -> tuple[int, ...]:
    """The installed pgvector version, e.g. (0, 6, 2)."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return tuple(int(p) for p in re.findall(r"\d+", row[0])) if row else ()


def has_halfvec(conn: psycopg.Connection) -> bool:
    """Whether the server's pgvector has the half-precision ``halfvec`` type (0.7.0 on)."""
    return vector_version(conn) >= (0, 7, 0)
