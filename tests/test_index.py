"""The index folder: atomic writes, crash recovery, load-time checks and FAISS index kinds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import FAKE, OTHER_FAKE, FakeEmbedder, article, write_jsonl

import rag.index
from rag.errors import IndexStateError
from rag.index import FORMAT_VERSION, MANIFEST, Index, build_faiss, choose_index_type
from rag.ingest import ingest
from rag.retrieve import Retriever
from rag.settings import Settings


def _load(settings: Settings) -> Index:
    return Index.load(settings.index_dir, settings.embed_model)


def _leftovers(settings: Settings) -> list[str]:
    """Hidden siblings of the index folder (temporary builds, the swapped-out index); the
    writers' lock file stays by design."""
    parent = Path(settings.index_dir).parent
    return sorted(p.name for p in parent.iterdir() if p.name[0] == "." and p.suffix != ".lock")


def _retriever(index: Index) -> Retriever:
    from rag.analyzer import get_analyzer
    from rag.embeddings import get_embedder

    return Retriever(index, get_embedder(index.embed_model), get_analyzer())


def _one_line_error(err: pytest.ExceptionInfo[IndexStateError]) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


# --- atomicity -------------------------------------------------------------------------------


def test_crash_mid_write_keeps_previous_index(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([corpus], settings)
    before = _load(settings)
    files_before = {p.name: p.stat().st_mtime_ns for p in Path(settings.index_dir).iterdir()}
    (corpus / "a00.txt").write_text(article(0, marker="nieuw"), encoding="utf-8")
    (corpus / "a09.txt").write_text(article(9), encoding="utf-8")
    written: list[str] = []

    def crash(rows: list) -> None:
        # vectors.npy, chunks.jsonl, texts.jsonl and faiss.index exist in the temp folder now.
        tmp = next(p for p in Path(settings.index_dir).parent.iterdir() if ".tmp-" in p.name)
        written.extend(sorted(p.name for p in tmp.iterdir()))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rag.index, "build_bm25", crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest([corpus], settings)
    assert {"vectors.npy", "chunks.jsonl", "faiss.index"} <= set(written)
    assert _leftovers(settings) == []
    assert {
        p.name: p.stat().st_mtime_ns for p in Path(settings.index_dir).iterdir()
    } == files_before
    monkeypatch.undo()

    index = _load(settings)
    assert [d.id for d in index.documents()] == [d.id for d in before.documents()]
    assert "nieuw" not in index.document_text("a00.txt")
    assert _retriever(index).search("penanda0000", k=1, mode="bm25")[0].doc_id == "a00.txt"
    # And the interrupted ingest simply succeeds when run again.
    summary = ingest([corpus], settings)
    assert (summary.added, summary.updated, summary.unchanged) == (1, 1, 4)


def test_interrupt_mid_write_cleans_up(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([corpus], settings)
    (corpus / "a07.txt").write_text(article(7), encoding="utf-8")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(faiss, "write_index", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest([corpus], settings)
    monkeypatch.undo()
    assert _leftovers(settings) == []
    assert len(_load(settings).documents()) == 5


def test_swap_cut_between_renames_is_recovered(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([corpus], settings)
    (corpus / "a08.txt").write_text(article(8), encoding="utf-8")
    real_rename = os.rename
    calls: list[tuple[str, str]] = []

    def rename(src: str | Path, dst: str | Path) -> None:
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:
            raise OSError("power cut")
        real_rename(src, dst)

    monkeypatch.setattr(rag.index.os, "rename", rename)
    with pytest.raises(IndexStateError, match="power cut; .*previous index is unchanged"):
        ingest([corpus], settings)
    monkeypatch.undo()
    index_dir = Path(settings.index_dir)
    assert calls[0] == ("index", ".index.old")
    assert not index_dir.exists()
    assert _leftovers(settings) == [".index.old"]

    # A reader reads the previous index where the cut swap left it, and moves nothing.
    index = _load(settings)
    assert len(index.documents()) == 5
    assert not index_dir.exists() and _leftovers(settings) == [".index.old"]
    # The next writer puts it back first.
    summary = ingest([corpus], settings)
    assert (summary.added, summary.unchanged) == (1, 5)
    assert index_dir.is_dir() and _leftovers(settings) == []


def test_ingest_after_cut_swap_recovers_first(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    index_dir = Path(settings.index_dir)
    os.rename(index_dir, index_dir.with_name(".index.old"))
    index_dir.mkdir()  # a half-made folder without a manifest
    summary = ingest([corpus], settings)
    assert (summary.added, summary.unchanged) == (0, 5)
    assert len(_load(settings).documents()) == 5


def test_stale_old_folder_is_ignored_and_cleared(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    stale = Path(settings.index_dir).with_name(".index.old")
    stale.mkdir()
    (stale / MANIFEST).write_text("{}", encoding="utf-8")
    assert len(_load(settings).documents()) == 5
    (corpus / "a05.txt").write_text(article(5), encoding="utf-8")
    ingest([corpus], settings)
    assert _leftovers(settings) == []
    assert len(_load(settings).documents()) == 6


# --- loading ---------------------------------------------------------------------------------


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexStateError) as err:
        Index.load(tmp_path / "nowhere", FAKE)
    message = _one_line_error(err)
    assert "rag ingest" in message and "nowhere" in message


@pytest.mark.parametrize("name", ["chunks.jsonl", "texts.jsonl", "vectors.npy", "faiss.index"])
def test_flipped_bytes_are_detected(corpus: Path, settings: Settings, name: str) -> None:
    ingest([corpus], settings)
    path = Path(settings.index_dir) / name
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4] = bytes(b ^ 0x5A for b in data[middle : middle + 4])
    path.write_bytes(bytes(data))
    with pytest.raises(IndexStateError) as err:
        _load(settings)
    message = _one_line_error(err)
    assert name in message and "corrupt" in message and "rag ingest" in message


@pytest.mark.parametrize("name", ["faiss.index", "chunks.jsonl", "bm25/params.index.json"])
def test_truncated_or_missing_file_is_detected(corpus: Path, settings: Settings, name: str) -> None:
    ingest([corpus], settings)
    path = Path(settings.index_dir) / name
    assert path.is_file()
    if name == "bm25/params.index.json":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexStateError) as err:
        _load(settings)
    assert "rag ingest" in _one_line_error(err)


def test_unreadable_manifest(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    manifest = Path(settings.index_dir) / MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8")[:50], encoding="utf-8")
    with pytest.raises(IndexStateError) as err:
        _load(settings)
    assert "manifest" in _one_line_error(err)


def test_other_embedder_is_refused(
    corpus: Path, settings: Settings, other_embedder: FakeEmbedder
) -> None:
    ingest([corpus], settings)
    with pytest.raises(IndexStateError) as err:
        Index.load(settings.index_dir, OTHER_FAKE)
    message = _one_line_error(err)
    assert FAKE in message and OTHER_FAKE in message and "RAG_EMBED_MODEL" in message
    # Without a requested embedder the index loads and says which one built it.
    assert Index.load(settings.index_dir).embed_model == FAKE


def test_other_format_version_is_refused(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    path = Path(settings.index_dir) / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    manifest["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError) as err:
        _load(settings)
    message = _one_line_error(err)
    assert f"format {FORMAT_VERSION + 1}" in message and "--rebuild" in message


def test_manifest_describes_the_index(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    manifest = json.loads((Path(settings.index_dir) / MANIFEST).read_text(encoding="utf-8"))
    index = _load(settings)
    assert manifest["embedder"] == {"name": FAKE, "dim": 64}
    assert manifest["chunking"] == {"size": 200, "overlap": 0}
    assert manifest["index_type"] == "flat"
    assert manifest["counts"] == {"documents": 5, "chunks": len(index)}
    assert {d["id"]: d["hash"] for d in manifest["documents"]} == {
        d.id: d.hash for d in index.documents()
    }
    files = set(manifest["files"])
    assert {"chunks.jsonl", "texts.jsonl", "vectors.npy", "faiss.index"} <= files
    assert any(f.startswith("bm25/") for f in files)
    vectors = np.load(Path(settings.index_dir) / "vectors.npy")
    assert vectors.shape == (len(index), 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# --- index kinds ---------------------------------------------------------------------------


def test_choose_index_type() -> None:
    assert choose_index_type("auto", 99, 100) == "flat"
    assert choose_index_type("auto", 100, 100) == "ivf"
    assert choose_index_type("hnsw", 5, 100) == "hnsw"
    assert choose_index_type("flat", 10**7, 100) == "flat"


def _synthetic(tmp_path: Path, n: int) -> Path:
    records = [
        {"id": f"s{i:03d}", "text": f"Kabar {i}. " + article(i, paragraphs=1).split("\n\n")[1]}
        for i in range(n)
    ]
    return write_jsonl(tmp_path / "synthetic.jsonl", records)


def _self_retrieval(index: Index, rows: list[int]) -> float:
    """Share of chunks whose own text, searched densely, ranks them first."""
    retriever = _retriever(index)
    found = 0
    for row in rows:
        hit = retriever.search(index.data.rows[row].text, k=1, mode="dense")[0]
        found += hit.chunk_id == index.chunk_id(row)
    return found / len(rows)


@pytest.mark.parametrize(
    ("requested", "threshold", "kind", "faiss_class"),
    [
        ("auto", 50_000, "flat", faiss.IndexFlatIP),
        ("auto", 100, "ivf", faiss.IndexIVFFlat),
        ("ivf", 50_000, "ivf", faiss.IndexIVFFlat),
        ("hnsw", 50_000, "hnsw", faiss.IndexHNSWFlat),
    ],
)
def test_index_kinds(
    tmp_path: Path,
    settings: Settings,
    requested: str,
    threshold: int,
    kind: str,
    faiss_class: type,
) -> None:
    custom = settings.merged(index_type=requested, ann_threshold=threshold)
    ingest([_synthetic(tmp_path, 300)], custom)
    index = _load(custom)
    assert len(index) >= 300
    assert index.data.index_type == kind
    manifest = json.loads((Path(custom.index_dir) / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["index_type"] == kind
    assert isinstance(faiss.downcast_index(index.faiss), faiss_class)
    assert index.faiss.ntotal == len(index)
    assert _self_retrieval(index, list(range(0, len(index), 10))) >= 0.95
    assert _retriever(index).search("penanda0123", k=3, mode="bm25")[0].doc_id == "s123"


def test_ivf_update_reuses_centroids(tmp_path: Path, settings: Settings) -> None:
    custom = settings.merged(index_type="ivf")
    corpus = _synthetic(tmp_path, 200)
    ingest([corpus], custom)
    first = _load(custom)
    ivf = faiss.downcast_index(first.faiss)
    centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    with corpus.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "late", "text": article(555)}) + "\n")
    summary = ingest([corpus], custom)
    assert summary.added == 1
    index = _load(custom)
    second = faiss.downcast_index(index.faiss)
    assert second.ntotal == len(index)
    assert np.array_equal(second.quantizer.reconstruct_n(0, second.nlist), centroids)
    assert _retriever(index).search("penanda0555", k=1, mode="bm25")[0].doc_id == "late"


def test_ivf_on_a_tiny_collection_then_grown(
    corpus: Path, settings: Settings, tmp_path: Path
) -> None:
    custom = settings.merged(index_type="ivf")
    ingest([corpus], custom)
    index = _load(custom)
    assert index.data.index_type == "ivf"
    assert _self_retrieval(index, list(range(len(index)))) == 1.0
    small_nlist = faiss.downcast_index(index.faiss).nlist
    # Grown ten-fold: the few lists trained on the small collection are not kept.
    ingest([corpus, _synthetic(tmp_path, 300)], custom)
    grown = _load(custom)
    assert faiss.downcast_index(grown.faiss).nlist > 2 * small_nlist
    assert _self_retrieval(grown, list(range(0, len(grown), 10))) >= 0.95


def test_build_faiss_on_random_vectors() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = build_faiss(vectors, "flat")
    _, truth = exact.search(vectors[:50], 1)
    assert (truth[:, 0] == np.arange(50)).all()
    for kind in ("ivf", "hnsw"):
        index = build_faiss(vectors, kind)
        assert index.ntotal == 2000
        _, found = index.search(vectors[:50], 1)
        assert (found[:, 0] == np.arange(50)).mean() >= 0.95
    tiny = build_faiss(vectors[:5], "ivf")
    assert (tiny.search(vectors[:5], 1)[1][:, 0] == np.arange(5)).all()
    empty = build_faiss(np.zeros((0, 32), np.float32), "ivf")
    assert empty.ntotal == 0
    with pytest.raises(IndexStateError):
        build_faiss(vectors, "lsh")


def test_ivf_search_quality_on_hard_data() -> None:
    # Uniform random vectors have no cluster structure to help an IVF index.
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(30_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:100] + 0.3 * rng.normal(size=(100, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = build_faiss(vectors, "flat").search(queries, 10)
    ivf = build_faiss(vectors, "ivf")
    assert ivf.nprobe < ivf.nlist
    _, found = ivf.search(queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9


def test_offsets_point_into_document_text(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings)
    index = _load(settings)
    for row in range(len(index)):
        doc = index.doc_for_row(row)
        r = index.data.rows[row]
        assert index.document_text(doc.id)[r.start : r.end] == r.text
        assert index.chunk_id(row) == f"{doc.id}#{r.i}"
    with pytest.raises(IndexStateError):
        index.document_text("nope")


def test_every_index_file_truncated_in_turn_is_a_one_line_error(
    corpus: Path, settings: Settings
) -> None:
    ingest([corpus], settings)
    root = Path(settings.index_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) >= 6
    for path in files:
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
        try:
            with pytest.raises(IndexStateError) as err:
                Index.load(root, settings.embed_model)
            assert "rag ingest" in _one_line_error(err) or "manifest" in str(err.value), path
        finally:
            path.write_bytes(whole)
    assert len(Index.load(root, settings.embed_model).documents()) == 5


def test_disk_full_during_a_write_keeps_the_previous_index(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy

    ingest([corpus], settings)
    (corpus / "a09.txt").write_text(article(9), encoding="utf-8")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(numpy, "save", full)
    with pytest.raises(IndexStateError) as err:
        ingest([corpus], settings)
    message = _one_line_error(err)
    assert "No space left on device" in message and "previous index is unchanged" in message
    monkeypatch.undo()
    assert len(_load(settings).documents()) == 5
    assert _leftovers(settings) == []
