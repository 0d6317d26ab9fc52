"""Former name of :mod:`rag.store.postgres.schema` (kept for old imports)."""

from rag.store.postgres.schema import (  # noqa: F401
    MIGRATIONS,
    SCHEMA_VERSION,
    connect,
    ensure_schema,
    has_halfvec,
    redact,
    vector_version,
)
