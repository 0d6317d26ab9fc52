"""The articles service the web app uses (rag.library): it reads the very index that answers
questions (rag.retrieve's cache, so the server holds it once), follows changes on disk, and
tells which uploaded files a removal leaves unused. Also: the app's CSS and JS ship as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import InputError
from rag.library import Library
from rag.retrieve import get_retriever
from rag.settings import Settings
from tests.conftest import article, write_articles, write_jsonl
from ui.app import static_text

ROOT = Path(__file__).resolve().parent.parent


def test_no_index_is_a_one_line_reason_remembered_until_it_appears(
    settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import retrieve
    from rag.ingest import ingest

    library = Library(settings)
    loads = []
    real = retrieve.get_index
    monkeypatch.setattr(retrieve, "get_index", lambda s: loads.append(1) or real(s))
    index, why = library.snapshot()
    assert index is None and why.startswith("no index at") and "\n" not in why
    assert not library.has_index and library.documents() == []
    assert library.document_text("a00.txt") is None
    assert len(loads) == 1  # the failure is remembered while the index stays the same
    ingest([corpus], settings)
    assert library.has_index
    assert [d.id for d in library.documents()] == [f"a{i:02d}.txt" for i in range(5)]


def test_one_index_cache_shared_with_retrieval(settings: Settings, corpus: Path) -> None:
    library = Library(settings)
    library.add([corpus])
    index, why = library.snapshot()
    assert why is None
    assert index is get_retriever(settings).index
    assert "penanda0002" in (library.document_text("a02.txt") or "")
    assert library.document_text("nope.txt") is None


def test_remove_tells_which_source_files_are_left_unused(
    settings: Settings, tmp_path: Path
) -> None:
    library = Library(settings)
    single = write_articles(tmp_path / "one", {"x.txt": article(1)}) / "x.txt"
    many = write_jsonl(
        tmp_path / "many.jsonl",
        [{"id": "j1", "text": article(2)}, {"id": "j2", "text": article(3)}],
    )
    summary = library.add([single, many])
    assert (summary.added, summary.documents) == (3, 3)
    paths = {Path(d.path).resolve() for d in library.documents() if d.id.startswith("j")}
    assert paths == {many.resolve()}  # both records come from one file
    summary, unused = library.remove(["x.txt", "j1"])
    assert summary.removed == 2
    # many.jsonl still holds j2, so only x.txt's file is unused now.
    assert [Path(p).resolve() for p in unused] == [single.resolve()]
    assert [d.id for d in library.documents()] == ["j2"]
    with pytest.raises(InputError, match="x.txt"):
        library.remove(["x.txt"])


def test_static_files_are_read_and_shipped() -> None:
    tomllib = pytest.importorskip("tomllib")
    assert static_text("app.js").lstrip().startswith("() => {")  # Gradio runs it as a function
    assert "a.rag-cite" in static_text("app.css")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = config["tool"]["setuptools"]["package-data"]["ui"]
    assert {"static/*.css", "static/*.js"} <= set(shipped)


def test_listing_documents_does_not_load_the_embedder(
    settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import embeddings
    from rag.ingest import ingest

    ingest([corpus], settings)
    from rag import retrieve

    monkeypatch.setattr(retrieve, "_retrievers", {})
    monkeypatch.setattr(retrieve, "_indexes", {})
    loaded = []
    real = embeddings.get_embedder
    monkeypatch.setattr(embeddings, "get_embedder", lambda name: loaded.append(name) or real(name))
    assert [d.id for d in Library(settings).documents()] == [f"a{i:02d}.txt" for i in range(5)]
    assert loaded == []
    assert get_retriever(settings).index is Library(settings).snapshot()[0]
    assert loaded == [settings.embed_model]
