"""Former name of :mod:`rag.store.postgres.tables` (kept for old imports)."""

from rag.store.postgres.tables import (  # noqa: F401
    BULK_ROWS,
    HNSW_M,
    HNSW_OPTIONS,
    PgWriter,
    export_data,
    hnsw_build_kb,
    write_transaction,
)
