"""The browser app takes PDF and Word files through its upload and web pages through the
link box of the Articles tab (``/add_articles``, ``/add_link``), with the same checks as
everywhere: a bad file or link is one line and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from conftest import FAKE, FakeEmbedder  # noqa: E402
from docmaker import make_docx, make_pdf  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from localsite import serve  # noqa: E402

import rag.embeddings  # noqa: E402
from rag.index import Index  # noqa: E402
from rag.settings import Settings, get_settings  # noqa: E402
from ui import app as ui  # noqa: E402

PAGES = Path(__file__).resolve().parent / "data" / "pages"
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str, str]]:
    """(settings, app address, local site address): the app over an empty index built with
    the fake embedder, and a local site with one news page."""
    rag.embeddings._cache[FAKE] = FakeEmbedder()
    settings = get_settings(
        index_dir=tmp_path_factory.mktemp("ui") / "index", embed_model=FAKE, chunk_size=200
    )
    routes = {
        "/berita": (200, HTML, (PAGES / "pasar_beras.html").read_bytes()),
        "/gambar": (200, {"Content-Type": "image/jpeg"}, b"\xff\xd8\xff" + b"\0" * 100),
    }
    demo = ui.build_app(settings, max_upload_mb=1)
    url = ui.serve(demo, "127.0.0.1", None, prevent_thread_lock=True, quiet=True)
    try:
        with serve(routes) as site:
            yield settings, url, site
    finally:
        demo.close()
        rag.embeddings._cache.pop(FAKE, None)


def _ids(settings: Settings) -> list[str]:
    return [d.id for d in Index.load(settings.index_dir, FAKE).documents()]


def test_pdf_and_word_uploads_are_indexed_and_a_fake_pdf_changes_nothing(
    app: tuple[Settings, str, str], tmp_path: Path
) -> None:
    settings, url, _ = app
    pdf = make_pdf(tmp_path / "laporan.pdf", ["Halaman satu tentang banjir.", "Dua: pompa air."])
    docx = make_docx(tmp_path / "memo.docx", [("Memo Rapat", 1), "Rapat membahas anggaran."])
    client = Client(url, verbose=False)
    out = client.predict(
        [handle_file(str(pdf)), handle_file(str(docx))], "en", api_name="/add_articles"
    )
    assert "2 added" in out[0], out[0]
    assert {"laporan.pdf", "memo.docx"} <= set(_ids(settings))
    fake = tmp_path / "palsu.pdf"
    fake.write_text("hanya teks biasa", encoding="utf-8")
    before = _ids(settings)
    out = client.predict([handle_file(str(fake))], "en", api_name="/add_articles")
    assert "palsu.pdf is not a PDF" in out[0] and "Nothing was changed" in out[0]
    assert "\n" not in out[0] and _ids(settings) == before


def test_a_link_is_added_and_a_bad_one_is_one_line(app: tuple[Settings, str, str]) -> None:
    settings, url, site = app
    client = Client(url, verbose=False)
    out = client.predict(f"{site}/berita", "en", None, api_name="/add_link")
    assert "1 added" in out[0], out[0]
    assert f"{site}/berita" in _ids(settings)
    assert out[-1] == ""  # the box is emptied for the next link
    before = _ids(settings)
    for link, says in (
        (f"{site}/hilang", "answered HTTP 404 Not Found"),
        (f"{site}/gambar", "is not a web page but image/jpeg"),
        ("warta.example/berita", "Paste the link of a web page"),
    ):
        out = client.predict(link, "en", None, api_name="/add_link")
        assert says in out[0] and "\n" not in out[0], out[0]
        assert out[-1] != ""  # left as typed (not emptied), to be corrected
    assert _ids(settings) == before
