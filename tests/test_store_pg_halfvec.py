"""halfvec (pgvector 0.7+) on a real PostgreSQL 18 + pgvector 0.8.5: chosen by RAG_PG_VECTOR,
half the vector bytes, the same nearest passages as the folder store."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeEmbedder
from test_store_pg import _searches, _store, _varied_corpus

from rag.errors import IndexStateError
from rag.index import Index
from rag.ingest import ingest
from rag.settings import Settings
from rag.store.copy import copy_store


def _column_type(url: str) -> str:
    from rag.store.schema import connect

    with connect(url) as conn:
        return conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'rag_chunks'::regclass AND attname = 'embedding'"
        ).fetchone()[0]


@pytest.mark.parametrize("wanted", ["halfvec", "auto"])
def test_halfvec_holds_the_folder_stores_nearest_passages(
    tmp_path: Path,
    settings: Settings,
    pg8_url: str,
    tie_free: FakeEmbedder,
    wanted: str,
) -> None:
    corpus = _varied_corpus(tmp_path / "varied")
    half = settings.merged(store=pg8_url, pg_vector=wanted)
    ingest([corpus], settings)
    ingest([corpus], half)
    assert _column_type(pg8_url) == "halfvec(64)"
    assert _store(half).describe().kind == "postgres"
    folder = _searches(Index.load(settings.index_dir), tie_free, "dense")
    pg = _searches(_store(half), tie_free, "dense")
    for a, b in zip(folder, pg, strict=True):
        # 16-bit floats move scores by about 1e-3: the same passages, in the same order
        # where their scores differ by more than that
        assert a[0].chunk_id == b[0].chunk_id
        assert {h.chunk_id for h in a[:5]} == {h.chunk_id for h in b[:5]}
        for x, y in zip(a, b):
            if x.chunk_id == y.chunk_id:
                assert y.dense_score == pytest.approx(x.dense_score, abs=2e-3)


def test_copy_into_halfvec_and_vector_where_halfvec_is_missing(
    corpus: Path, settings: Settings, pg8_url: str, pg_url: str
) -> None:
    ingest([corpus], settings)
    copy_store(str(settings.index_dir), pg8_url, settings.merged(pg_vector="halfvec"))
    assert _column_type(pg8_url).startswith("halfvec")
    assert len(_store(settings.merged(store=pg8_url))) == len(Index.load(settings.index_dir))
    # pgvector 0.6.2: auto falls back to vector, halfvec is refused in one line
    copy_store(str(settings.index_dir), pg_url, settings.merged(pg_vector="auto"))
    assert _column_type(pg_url).startswith("vector")
    with pytest.raises(IndexStateError, match="pgvector 0.7") as err:
        copy_store(str(settings.index_dir), pg_url, settings.merged(pg_vector="halfvec"))
    assert "\n" not in str(err.value)
