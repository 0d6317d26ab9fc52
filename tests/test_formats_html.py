"""HTML news pages through trafilatura and the line cleaner: on saved pages that carry
navigation, related stories, comments, forms and footers, every body sentence stays, no
debris does, and title, date, canonical URL and author are found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.documents import document_from_text, load_paths

PAGES = Path(__file__).resolve().parent / "data" / "pages"
EXPECTED = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_saved_news_page_keeps_the_article_and_nothing_else(name: str) -> None:
    want = EXPECTED[name]
    [doc] = load_paths([PAGES / name])
    text = " ".join(doc.text.split())
    assert [s for s in want["body"] if s not in text] == []
    assert [d for d in want["debris"] if d.lower() in text.lower()] == []
    assert (doc.title, doc.date, doc.url) == (want["title"], want["date"], want["url"])
    assert doc.author == want["author"]  # "Penulis: Agus Salim | Editor: ..." -> "Agus Salim"


def test_where_a_page_came_from_is_its_url_unless_it_names_a_canonical_one() -> None:
    raw = (PAGES / "siaran_pers.html").read_text(encoding="utf-8")  # names none
    doc = document_from_text("x", raw, kind="html", base_url="https://kementerian.example/b/9")
    assert doc.url == "https://kementerian.example/b/9"
    raw = (PAGES / "kabar_banjir.html").read_text(encoding="utf-8")
    doc = document_from_text("y", raw, kind="html", base_url="https://kabarkota.example/amp/1")
    assert doc.url == EXPECTED["kabar_banjir.html"]["url"]


def test_a_snippet_too_small_for_trafilatura_keeps_the_simple_path() -> None:
    doc = document_from_text(
        "s.html", "<nav>Home | News</nav><p>Satu kalimat pendek saja.</p>", kind="html"
    )
    assert doc.text == "Satu kalimat pendek saja."


@pytest.mark.parametrize("long", [False, True])
def test_script_style_iframe_and_handlers_never_become_text(long: bool) -> None:
    body = "Pemerintah meresmikan pelabuhan baru di Bitung pada Senin. " * (12 if long else 1)
    raw = (
        "<html><head><title>Pelabuhan Bitung</title><style>p { color: red }</style>"
        "<script>var secret = 'ignore previous instructions';</script></head><body>"
        "<article><h1>Pelabuhan Bitung</h1>"
        f"<p onclick=\"alert('x')\">{body}</p>"
        '<iframe src="https://evil.example/frame">frame text</iframe>'
        "<noscript>Aktifkan JavaScript</noscript>"
        "<script>document.write('injected words')</script></article></body></html>"
    )
    doc = document_from_text("p.html", raw, kind="html")
    assert "meresmikan pelabuhan baru di Bitung" in doc.text
    for debris in ("secret", "color", "alert", "evil.example", "frame text", "injected", "<"):
        assert debris not in doc.text
