"""Links (``rag ingest https://...``): fetched with httpx from a local HTTP server that serves
saved pages, a redirect, a redirect loop, a 404, a failing site, a huge page, a slow one and
responses that are not web pages. Each failure is one line that says what to do, and the
articles already indexed stay as they were."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE, article, write_articles
from docmaker import make_pdf
from localsite import Route, serve

from rag.cli import cli
from rag.documents import url_document
from rag.documents.fetch import is_url
from rag.errors import InputError
from rag.index import Index
from rag.ingest import ingest
from rag.retrieve import search
from rag.settings import Settings

PAGES = Path(__file__).resolve().parent / "data" / "pages"
HTML = "text/html; charset=utf-8"


def _stream_forever(handler: BaseHTTPRequestHandler) -> None:
    """A page with no length that never ends (until the client hangs up)."""
    handler.wfile.write(b"<html><body>" + b"<p>x</p>" * 1000)
    for _ in range(10_000):
        handler.wfile.write(b"<p>" + b"y" * 8000 + b"</p>")


def _slow(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(6)
    handler.wfile.write(b"<html><body><p>late</p></body></html>")


def _routes(tmp: Path) -> dict[str, Route]:
    pdf = make_pdf(tmp / "r.pdf", ["Halaman pertama tentang anggaran jembatan.", PDF_PAGE2])
    return {
        "/news/banjir": (200, {"Content-Type": HTML}, (PAGES / "kabar_banjir.html").read_bytes()),
        "/siaran": (200, {"Content-Type": HTML}, (PAGES / "siaran_pers.html").read_bytes()),
        "/old-link": (302, {"Location": "/siaran"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/missing": (404, {"Content-Type": HTML}, b"<h1>Not Found</h1>"),
        "/down": (503, {"Content-Type": HTML}, b"<h1>Service Unavailable</h1>"),
        "/huge": (200, {"Content-Type": HTML}, b"<p>" + b"z" * 300_000 + b"</p>"),
        "/endless": (200, {"Content-Type": HTML, "no-length": "1"}, _stream_forever),
        "/slow": (200, {"Content-Type": HTML, "no-length": "1"}, _slow),
        "/photo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
        "/api": (200, {"Content-Type": "application/json"}, b'{"title": "not a page"}'),
        "/laporan": (200, {"Content-Type": "application/pdf"}, pdf.read_bytes()),
        "/empty": (200, {"Content-Type": HTML}, b"<html><body><nav>Menu</nav></body></html>"),
        "/lama": (200, {"Content-Type": "text/html"}, OLD_PAGE.encode("cp1252")),
    }


PDF_PAGE2 = "Halaman kedua: jembatan selesai diperbaiki pada bulan Maret."
# An old site: Windows-1252, said only in a <meta> tag.
OLD_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    "<title>Kafe</title></head><body><p>Café “Kopi Kita” di Bandung dibuka kembali pada "
    "pekan ini setelah renovasi selama tiga bulan.</p></body></html>"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base address of a local HTTP server on 127.0.0.1 serving ``_routes``."""
    with serve(_routes(tmp_path_factory.mktemp("site"))) as base:
        yield base


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """The test settings with a small page limit (and a time limit no busy machine misses)."""
    return settings.merged(fetch_timeout=10.0, fetch_max_mb=0.1)


def test_links_are_told_from_paths() -> None:
    assert is_url("https://x.example/a") and is_url(" HTTP://x.example ")
    assert not is_url("x.example/a") and not is_url("https:/x") and not is_url(Path("a"))


def test_a_link_is_fetched_indexed_and_cited_by_its_address(
    site: str, web_settings: Settings
) -> None:
    link = f"{site}/news/banjir"
    summary = ingest([link + "#komentar"], web_settings)
    assert summary.added == 1
    [doc] = Index.load(web_settings.index_dir, FAKE).documents()
    assert doc.id == link and doc.path is None
    assert doc.url == "https://kabarkota.example/metro/2024/02/banjir-jakarta-timur"  # canonical
    assert doc.title.startswith("Banjir Rendam 12 Kelurahan") and doc.date == "2024-02-26"
    [hit] = search("pompa mobile personel pemadam kebakaran", web_settings, k=1)
    assert hit.doc_id == link and hit.url == doc.url
    assert "Berita Terkait" not in hit.text and "Tinggalkan" not in hit.text
    assert ingest([link], web_settings).unchanged == 1  # the same page again: nothing to do


def test_a_redirect_is_followed_and_the_link_given_stays_the_id(
    site: str, web_settings: Settings
) -> None:
    doc = url_document(f"{site}/old-link", web_settings)
    assert doc.id == f"{site}/old-link"
    assert doc.url == f"{site}/siaran"  # the page names no canonical address: where it ended
    assert "61 peserta dari 13 negara" in doc.text and "3842638" not in doc.text


def test_a_page_in_an_old_encoding_is_decoded_by_its_meta_tag(
    site: str, web_settings: Settings
) -> None:
    doc = url_document(f"{site}/lama", web_settings)
    assert "Café “Kopi Kita” di Bandung" in doc.text


def test_a_pdf_link_keeps_its_pages(site: str, web_settings: Settings) -> None:
    doc = url_document(f"{site}/laporan", web_settings)
    assert doc.id == doc.url == f"{site}/laporan"
    assert doc.text.split("\f")[1] == PDF_PAGE2


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/missing", r"answered HTTP 404 Not Found: no page there; check the link"),
        ("/down", r"HTTP 503 .*try again later"),
        ("/loop", r"redirects more than 5 times; open it in a browser"),
        ("/huge", r"over the 0.1 MB limit for a page; .*RAG_FETCH_MAX_MB"),
        ("/endless", r"over the 0.1 MB limit for a page"),
        ("/slow", r"did not arrive within 1 s; .*RAG_FETCH_TIMEOUT"),
        ("/photo.png", r"is not a web page but image/png; give the link of an article"),
        ("/api", r"is not a web page but application/json"),
        ("/empty", r"no article text at .*save it from your browser"),
    ],
)
def test_each_failure_is_one_line_and_the_index_stays(
    site: str, web_settings: Settings, tmp_path: Path, path: str, says: str
) -> None:
    web_settings = web_settings.merged(fetch_timeout=1.0)
    kept = write_articles(tmp_path / "kept", {"a.txt": article(1)})
    ingest([kept], web_settings)
    before = Index.load(web_settings.index_dir, FAKE)
    started = time.monotonic()
    with pytest.raises(InputError, match=says) as err:
        ingest([kept / "a.txt", f"{site}{path}"], web_settings)
    assert time.monotonic() - started < 5  # the limits stop a download, not the server's end
    assert "\n" not in str(err.value) and f"{site}{path}" in str(err.value)
    after = Index.load(web_settings.index_dir, FAKE)
    assert [d.id for d in after.documents()] == ["a.txt"]
    assert after.data.texts == before.data.texts and len(after) == len(before)


def test_an_unreachable_site_and_a_bad_link_are_one_line(web_settings: Settings) -> None:
    with pytest.raises(InputError, match=r"cannot reach .*check the link and that this machine"):
        url_document("http://127.0.0.1:9/closed", web_settings)  # the discard port: refused
    with pytest.raises(InputError, match=r"is not a link ingest can follow|cannot reach"):
        url_document("http://exa mple.invalid:99999/", web_settings)


def test_the_cli_ingests_a_link_and_says_what_failed_in_one_line(
    site: str, settings: Settings
) -> None:
    env = {"RAG_INDEX_DIR": str(settings.index_dir), "RAG_EMBED_MODEL": settings.embed_model}
    runner = CliRunner()
    ok = runner.invoke(cli, ["ingest", f"{site}/siaran"], env=env, catch_exceptions=False)
    assert ok.exit_code == 0 and "1 added" in ok.output
    failed = runner.invoke(cli, ["ingest", f"{site}/missing"], env=env, catch_exceptions=False)
    assert failed.exit_code == 1
    assert failed.stderr.strip().splitlines() == [
        f"Error: {site}/missing answered HTTP 404 Not Found: no page there; check the link "
        "(open it in a browser)"
    ]
