"""Incremental ingest: counts, no-op re-ingest, replacement, removal, pruning, de-duplication,
re-chunking, and that removing never embeds anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FAKE, OTHER_FAKE, FakeEmbedder, article, write_articles, write_jsonl

from rag.errors import IndexStateError, InputError
from rag.index import MANIFEST, Index
from rag.ingest import IngestSummary, ingest, remove
from rag.retrieve import Retriever
from rag.settings import Settings


def _load(settings: Settings) -> Index:
    return Index.load(settings.index_dir, settings.embed_model)


def _bm25_docs(index: Index, query: str) -> list[str]:
    """Document ids of the BM25 hits for ``query`` (in rank order)."""
    from rag.analyzer import get_analyzer
    from rag.embeddings import get_embedder

    retriever = Retriever(index, get_embedder(index.embed_model), get_analyzer())
    return [h.doc_id for h in retriever.search(query, k=10, mode="bm25")]


def _all_text(index: Index) -> str:
    return "\n".join(r.text for r in index.data.rows)


def test_first_ingest_counts_and_contents(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    summary = ingest([corpus], settings)
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (5, 0, 0, 0)
    index = _load(settings)
    assert summary.documents == 5
    assert summary.chunks == len(index) == summary.new_chunks > 5
    assert fake_embedder.texts == summary.new_chunks
    docs = index.documents()
    assert [d.id for d in docs] == [f"a{i:02d}.txt" for i in range(5)]
    assert docs[2].title == "Berita nomor 2 tentang bertemu"
    assert sum(d.chunks for d in docs) == len(index)
    assert all(d.chunks >= 1 for d in docs)
    for row in index.data.rows:
        assert len(row.text) <= settings.chunk_size
    assert _bm25_docs(index, "penanda0003")[0] == "a03.txt"


def test_reingest_unchanged_does_nothing(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    manifest = Path(settings.index_dir) / MANIFEST
    before = manifest.stat()
    dir_before = Path(settings.index_dir).stat()
    embedded = fake_embedder.texts
    summary = ingest([corpus], settings)
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (0, 0, 5, 0)
    assert summary.new_chunks == 0
    after = manifest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert Path(settings.index_dir).stat().st_ino == dir_before.st_ino
    assert fake_embedder.texts == embedded


def test_changed_document_is_replaced(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    chunks_before = len(_load(settings))
    embedded = fake_embedder.texts
    (corpus / "a01.txt").write_text(article(1, marker="gantibaru77"), encoding="utf-8")
    summary = ingest([corpus], settings)
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (0, 1, 4, 0)
    index = _load(settings)
    assert "penanda0001" not in _all_text(index)
    assert "a01.txt" not in _bm25_docs(index, "penanda0001")
    assert _bm25_docs(index, "gantibaru77")[0] == "a01.txt"
    # Only the changed article was embedded again.
    assert fake_embedder.texts - embedded == summary.new_chunks
    assert summary.new_chunks == index.documents()[1].chunks
    assert len(index) == chunks_before  # same shape of article, same chunk count
    assert len(index.data.texts) == 5  # the old text is gone
    assert "gantibaru77" in index.document_text("a01.txt")


def test_remove_drops_documents_without_embedding(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    before = _load(settings)
    gone = before.documents()[2].chunks + before.documents()[4].chunks
    calls = fake_embedder.calls
    summary = remove(["a02.txt", "a04.txt"], settings)
    assert fake_embedder.calls == calls
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (0, 0, 0, 2)
    index = _load(settings)
    assert [d.id for d in index.documents()] == ["a00.txt", "a01.txt", "a03.txt"]
    assert len(index) == len(before) - gone == summary.chunks
    assert "penanda0002" not in _all_text(index)
    assert _bm25_docs(index, "penanda0002") == []
    assert _bm25_docs(index, "penanda0003")[0] == "a03.txt"
    # Kept vectors are the very ones embedded at first.
    old = {(r.hash, r.i): n for n, r in enumerate(before.data.rows)}
    for n, r in enumerate(index.data.rows):
        assert (index.data.vectors[n] == before.data.vectors[old[(r.hash, r.i)]]).all()


def test_remove_unknown_id_is_an_input_error(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    manifest = (Path(settings.index_dir) / MANIFEST).stat()
    with pytest.raises(InputError, match="nope.txt"):
        remove(["a00.txt", "nope.txt"], settings)
    assert (Path(settings.index_dir) / MANIFEST).stat().st_mtime_ns == manifest.st_mtime_ns
    assert len(_load(settings).documents()) == 5


def test_remove_without_index(settings: Settings) -> None:
    with pytest.raises(IndexStateError):
        remove(["a00.txt"], settings)


def test_prune_drops_documents_not_found(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    (corpus / "a03.txt").unlink()
    kept = ingest([corpus], settings)
    assert (kept.unchanged, kept.removed) == (4, 0)
    assert "a03.txt" in [d.id for d in _load(settings).documents()]
    calls = fake_embedder.calls
    pruned = ingest([corpus], settings, prune=True)
    assert (pruned.added, pruned.updated, pruned.unchanged, pruned.removed) == (0, 0, 4, 1)
    assert fake_embedder.calls == calls
    index = _load(settings)
    assert [d.id for d in index.documents()] == ["a00.txt", "a01.txt", "a02.txt", "a04.txt"]
    assert "penanda0003" not in _all_text(index)


def test_prune_with_empty_folder_empties_the_index(
    corpus: Path, settings: Settings, tmp_path: Path
) -> None:
    ingest([corpus], settings)
    empty = tmp_path / "empty"
    empty.mkdir()
    summary = ingest([empty], settings, prune=True)
    assert summary.removed == 5
    index = _load(settings)
    assert index.documents() == [] and len(index) == 0
    assert _bm25_docs(index, "penanda0001") == []


def test_identical_content_is_stored_once(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    text = article(7)
    folder = write_articles(tmp_path / "docs", {"x.txt": text, "other.txt": article(8)})
    ingest([folder], settings)
    single = len(_load(settings))
    embedded = fake_embedder.texts
    write_articles(folder, {"y.txt": text})
    summary = ingest([folder], settings)
    assert (summary.added, summary.unchanged) == (1, 2)
    assert summary.new_chunks == 0 and fake_embedder.texts == embedded
    index = _load(settings)
    assert len(index) == single
    docs = {d.id: d for d in index.documents()}
    assert set(docs) == {"x.txt", "y.txt", "other.txt"}
    assert docs["x.txt"].chunks == docs["y.txt"].chunks >= 1
    assert docs["x.txt"].hash == docs["y.txt"].hash
    assert index.document_text("y.txt") == index.document_text("x.txt")

    remove(["x.txt"], settings)
    index = _load(settings)
    assert [d.id for d in index.documents()] == ["other.txt", "y.txt"]
    assert _bm25_docs(index, "penanda0007")[0] == "y.txt"
    assert fake_embedder.texts == embedded


def test_copies_differing_only_in_spacing_are_stored_once(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    text = article(5).replace("penanda0005", "penanda0005 senilai Rp 6,5 miliar", 1)
    tokenised = text.replace("Rp 6,5", "Rp 6, 5").replace(". ", " . ")
    path = write_jsonl(
        tmp_path / "recs.jsonl", [{"id": "a", "text": text}, {"id": "b", "text": tokenised}]
    )
    ingest([path], settings)
    index = _load(settings)
    assert len(index) == index.data.docs["a"].chunks == fake_embedder.texts
    assert index.same_content("b") == ["a", "b"] == index.same_content("a")
    assert index.document_text("b") == index.document_text("a")
    assert "Rp 6,5 miliar" in index.document_text("a")


def test_an_index_hashed_with_whitespace_is_rekeyed_without_embedding_again(
    tmp_path: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    import rag.documents

    text = article(6)
    records = [
        {"id": "a", "text": text},
        {"id": "b", "text": text.replace(". ", " . ")},  # a tokenised copy
        {"id": "c", "text": article(9)},
    ]
    path = write_jsonl(tmp_path / "recs.jsonl", records)
    with monkeypatch.context() as m:  # the content hash of earlier versions
        m.setattr(rag.documents, "text_hash", lambda t: hashlib.sha256(t.encode()).hexdigest())
        ingest([path], settings)
    old = _load(settings)
    assert old.data.docs["a"].hash != old.data.docs["b"].hash
    embedded = fake_embedder.texts

    summary = ingest([path], settings)
    assert (summary.unchanged, summary.updated, summary.new_chunks) == (3, 0, 0)
    assert fake_embedder.texts == embedded
    remove(["c"], settings)  # a write: the copies are merged, nothing is embedded
    index = _load(settings)
    assert fake_embedder.texts == embedded
    assert index.same_content("a") == ["a", "b"]
    assert len(index) == index.data.docs["a"].chunks == old.data.docs["a"].chunks
    assert index.data.docs["a"].hash == rag.documents.Document("a", text, "").content_hash


def test_a_change_of_spacing_alone_replaces_the_stored_text(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    text = article(4).replace("penanda0004", "penanda0004 senilai Rp 6, 5 miliar", 1)
    path = write_jsonl(tmp_path / "recs.jsonl", [{"id": "a", "text": text}])
    ingest([path], settings)
    before = fake_embedder.texts
    assert "Rp 6,5 miliar" in _load(settings).document_text("a")  # the cleaning rejoins it

    spaced = text.replace("Rp 6, 5", "Rp  6,5").replace(". ", ".  ")
    write_jsonl(path, [{"id": "a", "text": spaced}])
    assert ingest([path], settings).unchanged == 1  # the cleaned text is the same

    respaced = text.replace("Rp 6, 5 miliar", "Rp 6,5\n\nmiliar")  # now a paragraph break
    write_jsonl(path, [{"id": "a", "text": respaced}])
    summary = ingest([path], settings)
    index = _load(settings)
    assert summary.updated == 1 and summary.new_chunks == len(index) >= 1
    assert "Rp 6,5\n\nmiliar" in index.document_text("a")
    rows = index.data.rows
    assert all(index.document_text("a")[r.start : r.end] == r.text for r in rows)
    assert fake_embedder.texts == before + len(index)
    assert ingest([path], settings).unchanged == 1


def test_duplicates_in_one_jsonl_are_embedded_once(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    text = article(3)
    path = write_jsonl(
        tmp_path / "recs.jsonl",
        [{"id": "r1", "text": text}, {"id": "r2", "text": text}, {"id": "r3", "text": article(4)}],
    )
    summary = ingest([path], settings)
    index = _load(settings)
    docs = {d.id: d for d in index.documents()}
    assert summary.added == 3
    assert len(index) == docs["r1"].chunks + docs["r3"].chunks
    assert fake_embedder.texts == len(index)


def test_changing_chunk_size_rechunks_everything(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    small = _load(settings)
    bigger = settings.merged(chunk_size=600)
    summary = ingest([corpus], bigger)
    index = _load(bigger)
    assert index.data.chunk_size == 600
    assert len(index) < len(small)
    assert summary.new_chunks == summary.chunks == len(index)
    assert max(len(r.text) for r in index.data.rows) > 200
    for d in index.documents():
        text = index.document_text(d.id)
        for r in index.data.rows:
            if r.hash == d.hash:
                assert text[r.start : r.end] == r.text


def test_changing_index_type_rebuilds(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    ingest([corpus], settings.merged(index_type="hnsw"))
    assert _load(settings).data.index_type == "hnsw"


def test_progress_reports_embedding(corpus: Path, settings: Settings) -> None:
    seen: list[tuple[int, int, str]] = []
    summary = ingest([corpus], settings, progress=lambda d, t, s: seen.append((d, t, s)))
    embedding = [(d, t) for d, t, s in seen if s == "embedding"]
    assert embedding[0] == (0, summary.new_chunks)
    assert embedding[-1] == (summary.new_chunks, summary.new_chunks)
    assert [d for d, _ in embedding] == sorted(d for d, _ in embedding)


def test_bad_inputs(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(InputError, match="does not exist"):
        ingest([tmp_path / "missing"], settings)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no articles"):
        ingest([empty], settings)
    assert not Path(settings.index_dir).exists()


def test_other_embedder_needs_rebuild(
    corpus: Path, settings: Settings, other_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    other = settings.merged(embed_model=OTHER_FAKE)
    with pytest.raises(IndexStateError) as err:
        ingest([corpus], other)
    message = str(err.value)
    assert FAKE in message and OTHER_FAKE in message and "--rebuild" in message
    summary = ingest([corpus], other, rebuild=True)
    assert summary.added == 5
    assert Index.load(other.index_dir, OTHER_FAKE).embed_model == OTHER_FAKE
    assert other_embedder.texts == summary.new_chunks


def test_metadata_change_is_recorded(tmp_path: Path, settings: Settings) -> None:
    text = article(2)
    path = write_jsonl(tmp_path / "r.jsonl", [{"id": "r", "text": text, "title": "Old"}])
    ingest([path], settings)
    write_jsonl(path, [{"id": "r", "text": text, "title": "New title"}])
    summary = ingest([path], settings)
    assert summary.new_chunks == 0
    assert _load(settings).documents()[0].title == "New title"


def test_summary_line() -> None:
    line = IngestSummary(2, 1, 3, 4, 5, 60, 30, 2.0).line()
    assert line.startswith("2 added, 1 updated, 3 unchanged, 4 removed;")
    assert "60 chunks" in line and "15.0 chunks/s" in line
    assert "\n" not in line


def test_index_moved_elsewhere_still_loads(corpus: Path, settings: Settings, tmp_path: Path):
    ingest([corpus], settings)
    moved = tmp_path / "moved"
    shutil.copytree(settings.index_dir, moved)
    assert len(Index.load(moved, FAKE).documents()) == 5
