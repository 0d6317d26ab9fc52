"""The page's HTML (ui.render): escaping, citation links, highlighted passages, the states of
an answer bubble and the sources panel; no server, no Gradio."""

from __future__ import annotations

import pytest

from rag.types import Citation, Hit
from ui import render
from ui.texts import TEXTS
from ui.turn import Status, Turn

EVIL = 'Judul <script>x()</script> <img src=x onerror="y()"> ${1+1} `z`'


def _hit(text: str, start: int, doc_id: str = "d.txt", **kw: object) -> Hit:
    return Hit(f"{doc_id}#0", doc_id, text, start, start + len(text), 1.0, **kw)  # type: ignore[arg-type]


def _turn(status: Status, **kw: object) -> Turn:
    hits = [
        _hit("Anggota Aliansi Pasifik adalah Chile.", 0, "a.txt", title="A", date="2021-08-20"),
        _hit(EVIL, 0, "b.txt", title=EVIL, url="javascript:alert(1)"),
    ]
    cite = Citation(1, "a.txt", "A", "a.txt#0", 0, 23, "Anggota Aliansi Pasifik")
    fields: dict[str, object] = {"hits": hits, "citations": [cite], "text": "Chile [1]."}
    fields.update(kw)
    return Turn(3, "Siapa <b>anggota</b>?", status, **fields)  # type: ignore[arg-type]


def test_esc_covers_html_and_template_characters() -> None:
    out = render.esc(EVIL)
    assert "<" not in out and ">" not in out and '"' not in out
    assert "$" not in out and "{" not in out and "`" not in out
    assert "&lt;script&gt;" in out and "&#36;&#123;1+1&#125;" in out


def test_citation_links_only_for_shown_passages() -> None:
    out = render.link_citations("A [1] B [2, 3] C [9] <b>\nD", 4, {1, 2, 3})
    assert '<a class="rag-cite" href="#rag-src-4-1" data-n="1">[1]</a>' in out
    assert 'href="#rag-src-4-2"' in out and 'href="#rag-src-4-3"' in out
    assert "[9]" in out and "rag-src-4-9" not in out
    assert "&lt;b&gt;<br>D" in out


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.org/a", "https://example.org/a"),
        (" http://x.id/b ", "http://x.id/b"),
        ("javascript:alert(1)", None),
        ("https://x.id/a b", None),
        (None, None),
    ],
)
def test_only_plain_web_links_are_kept(url: str | None, kept: str | None) -> None:
    assert render.safe_url(url) == kept


def test_quote_outside_the_chunk_widens_the_excerpt() -> None:
    doc = "Kalimat satu. Kalimat dua berlanjut. Kalimat tiga."
    hit = _hit(doc[14:36], 14)  # "Kalimat dua berlanjut."
    cite = Citation(1, "d.txt", "T", "d.txt#0", 0, 36, doc[0:36])
    out = render.render_passage(hit, [cite], lambda _id: doc)
    assert out == '<p class="rag-src-text"><mark>Kalimat satu. Kalimat dua berlanjut.</mark></p>'
    # Without the document text the quote is still shown, next to the chunk.
    out = render.render_passage(hit, [cite], lambda _id: None)
    assert out.startswith('<p class="rag-src-text">Kalimat dua berlanjut.</p>')
    assert "<mark>Kalimat satu. Kalimat dua berlanjut.</mark>" in out


def test_quote_with_stale_offsets_is_found_by_text() -> None:
    hit = _hit("Awal. Inti kutipan. Akhir.", 100)
    cite = Citation(1, "d.txt", "T", "d.txt#0", 0, 5, "Inti kutipan.")
    out = render.render_passage(hit, [cite], lambda _id: None)
    assert "Awal. <mark>Inti kutipan.</mark> Akhir." in out


def test_overlapping_quotes_are_one_mark_and_text_is_escaped() -> None:
    hit = _hit("a <b> c d e", 0)
    cites = [
        Citation(1, "d.txt", "T", "d.txt#0", 2, 7, "<b> c"),
        Citation(1, "d.txt", "T", "d.txt#0", 4, 9, "> c d"),
    ]
    out = render.render_passage(hit, cites, lambda _id: None)
    assert out == '<p class="rag-src-text">a <mark>&lt;b&gt; c d</mark> e</p>'


@pytest.mark.parametrize(
    ("status", "css", "note"),
    [
        (Status.QUEUED, "rag-pending", "waiting"),
        (Status.SEARCHING, "rag-pending", "searching"),
        (Status.READING, "rag-pending", "Reading 2 passages"),
        (Status.STREAMING, "rag-streaming", "Chile"),
        (Status.DONE, "rag-answer", "Chile"),
        (Status.REFUSED, "rag-refusal", "No answer in the articles"),
    ],
)
def test_bubble_shows_the_state_of_the_turn(status: Status, css: str, note: str) -> None:
    bubble = render.render_turn_answer(_turn(status), "en", False)
    assert css in bubble
    assert note.lower() in bubble.lower()


def test_error_bubble_shows_a_rag_error_or_only_the_crash_type() -> None:
    said = render.render_turn_answer(_turn(Status.ERROR, error="model missing"), "en", False)
    assert "rag-error" in said and "Could not answer: model missing" in said
    crash = render.render_turn_answer(_turn(Status.ERROR, crash="ValueError"), "id", False)
    assert "ValueError" in crash and "Terjadi kesalahan" in crash


def test_chat_escapes_the_question_and_links_only_cited_passages() -> None:
    user, bot = render.render_chat(
        [_turn(Status.DONE, text=f"Chile [1] dan [2]. {EVIL}")], "id", False
    )
    assert user == {
        "role": "user",
        "content": '<div class="rag-msg">Siapa &lt;b&gt;anggota&lt;/b&gt;?</div>',
    }
    assert 'href="#rag-src-3-1"' in bot["content"] and "rag-src-3-2" not in bot["content"]
    assert "<script" not in bot["content"] and "<img" not in bot["content"]
    # With every passage shown, [2] becomes a link too.
    _, bot = render.render_chat([_turn(Status.DONE, text="[1] [2]")], "id", True)
    assert 'href="#rag-src-3-2"' in bot["content"]


def test_sources_panel_lists_cited_passages_newest_first() -> None:
    older = Turn(1, "lama?", Status.DONE, text="x", hits=[_hit("teks lama", 0, title="L")])
    panel = render.render_sources([older, _turn(Status.DONE)], "en", False)
    assert panel.index("Question 3") < panel.index("Question 1")
    assert panel.count("<details") == 2 and panel.count(" open>") == 1
    assert 'id="rag-src-3-1"' in panel and 'id="rag-src-3-2"' not in panel
    assert "<mark>Anggota Aliansi Pasifik</mark>" in panel and "2021-08-20" in panel
    assert "The answer cites no passage." in panel  # the older turn cited nothing
    full = render.render_sources([_turn(Status.DONE)], "en", True)
    assert 'id="rag-src-3-2"' in full and "javascript:" not in full and "<script" not in full
    assert "no date" in full and "Passages given to the model" in full


def test_sources_panel_while_reading_and_when_empty() -> None:
    assert "Model sedang membaca 2 kutipan" in render.render_sources(
        [_turn(Status.READING)], "id", False
    )
    assert TEXTS["en"]["sources_empty"] in render.render_sources([], "en", False)


def test_status_line_is_one_escaped_line() -> None:
    assert (
        render.status_html("bad <x>\nsecond", False)
        == '<p class="rag-status-error">bad &lt;x&gt;</p>'
    )
    assert "rag-status-ok" in render.status_html("ok", True)


def test_labels_exist_in_both_languages() -> None:
    assert set(TEXTS["id"]) == set(TEXTS["en"])
    assert TEXTS["id"]["send"] != TEXTS["en"]["send"]
    assert render.header_html("en").startswith("<h1>Ask the articles</h1>")
