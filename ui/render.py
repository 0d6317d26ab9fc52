"""Pure HTML for the page: the chat bubbles, the sources panel and status lines.

Everything taken from articles or questions goes through :func:`esc` before it reaches the
page, and the chat renders no Markdown, so an article cannot run script or load anything.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

from rag.errors import first_line
from rag.types import Citation, Hit
from ui.texts import texts
from ui.turn import Status, Turn

DocText = Callable[[str], str | None]
"""The cleaned text of a document by id, or None when it is not (or no longer) indexed."""

_CITE = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


def esc(text: object) -> str:
    """HTML-escape ``text`` for any HTML sink, including template characters ``$ { } ```."""
    out = html.escape(str(text), quote=True)
    return (
        out.replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


def lines(escaped: str) -> str:
    """Already escaped text with its line breaks as ``<br>``."""
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def safe_url(url: str | None) -> str | None:
    """``url`` when it is a plain http(s) address, else None (no ``javascript:`` links)."""
    if url and _URL.match(url.strip()):
        return url.strip()
    return None


def src_id(turn_id: int, n: int) -> str:
    """The element id of passage ``n`` of turn ``turn_id`` in the sources panel."""
    return f"rag-src-{turn_id}-{n}"


def link_citations(text: str, turn_id: int, linkable: set[int]) -> str:
    """Escaped ``text`` with each ``[n]`` (n in ``linkable``) made a link to its source."""

    def repl(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*,\s*", match.group(1))]
        if not all(n in linkable for n in numbers):
            return match.group(0)
        return "".join(
            f'<a class="rag-cite" href="#{src_id(turn_id, n)}" data-n="{n}">[{n}]</a>'
            for n in numbers
        )

    return _CITE.sub(repl, lines(esc(text)))


def _pending(note: str) -> str:
    return f'<span class="rag-msg rag-pending">{esc(note)}</span>'


def render_turn_answer(turn: Turn, lang: str, show_all: bool) -> str:
    """The assistant bubble of ``turn`` as safe HTML."""
    t = texts(lang)
    status = turn.status
    if status is Status.ERROR:
        message = turn.error or t["unexpected"].format(kind=turn.crash or "error")
        return f'<div class="rag-msg rag-error">⚠ {esc(t["error_label"])}: {esc(message)}</div>'
    if status.waiting:
        return _pending(t["waiting"] if status is Status.QUEUED else t["searching"])
    if status is Status.READING or (status is Status.STREAMING and not turn.text.strip()):
        return _pending(t["reading_bubble"].format(n=len(turn.hits)))
    body = link_citations(turn.text, turn.id, set(turn.shown_numbers(show_all)))
    if status is Status.REFUSED:
        return (
            f'<div class="rag-msg rag-refusal"><span class="rag-refusal-label">ℹ '
            f"{esc(t['refused_label'])}</span>{body}</div>"
        )
    live = " rag-streaming" if status is Status.STREAMING else ""
    return f'<div class="rag-msg rag-answer{live}">{body}</div>'


def render_chat(turns: Sequence[Turn], lang: str, show_all: bool) -> list[dict[str, str]]:
    """Chatbot messages for ``turns``: every string is escaped HTML (the chat renders no
    Markdown)."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        user = f'<div class="rag-msg">{lines(esc(turn.question))}</div>'
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": render_turn_answer(turn, lang, show_all)})
    return messages


def _spans_in(
    base: str, base_start: int, citations: Sequence[Citation]
) -> tuple[list[tuple[int, int]], list[str]]:
    """Highlight spans (relative to ``base``) for ``citations``, and quotes that could not be
    placed."""
    spans: list[tuple[int, int]] = []
    loose: list[str] = []
    for c in citations:
        s, e = c.start - base_start, c.end - base_start
        quote = c.quote or ""
        if 0 <= s < e <= len(base) and (not quote or base[s:e] == quote):
            spans.append((s, e))
        elif quote and (pos := base.find(quote)) >= 0:
            spans.append((pos, pos + len(quote)))
        elif quote:
            loose.append(quote)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged, loose


def render_passage(hit: Hit, citations: Sequence[Citation], doc_text: DocText) -> str:
    """The passage of ``hit`` as escaped HTML with the spans quoted by ``citations`` marked.
    A quote reaching outside the chunk widens the excerpt using the document text."""
    base, base_start = hit.text, hit.start
    outside = [c for c in citations if c.start < hit.start or c.end > hit.end]
    if outside:
        text = doc_text(hit.doc_id)
        lo = min([hit.start] + [c.start for c in outside])
        hi = max([hit.end] + [c.end for c in outside])
        if text is not None and lo >= 0 and hi <= len(text) and text[hit.start : hit.end] == base:
            base, base_start = text[lo:hi], lo
    spans, loose = _spans_in(base, base_start, citations)
    parts: list[str] = []
    pos = 0
    for s, e in spans:
        parts.append(esc(base[pos:s]))
        parts.append(f"<mark>{esc(base[s:e])}</mark>")
        pos = e
    parts.append(esc(base[pos:]))
    out = f'<p class="rag-src-text">{"".join(parts)}</p>'
    for quote in loose:
        out += f'<p class="rag-quote">“<mark>{esc(quote)}</mark>”</p>'
    return out


def _sources_note(turn: Turn, numbers: list[int], show_all: bool, t: dict[str, str]) -> str:
    """The line above a turn's passages: what they are (or why there are none)."""
    status = turn.status
    if status.waiting:
        return t["waiting"] if status is Status.QUEUED else t["searching"]
    if status in (Status.READING, Status.STREAMING):
        return t["reading"].format(n=len(turn.hits))
    if status is Status.ERROR:
        return t["error_label"]
    if status is Status.REFUSED and numbers:
        return t["refused_sources"]
    if not numbers:
        return t["no_cited"]
    return t["all_given"] if show_all else t["cited_only"]


def render_source(
    turn_id: int, n: int, hit: Hit, cites: list[Citation], doc_text: DocText, lang: str
) -> str:
    """One numbered passage: title, date, link to the article and the quoted spans marked."""
    t = texts(lang)
    cls = "rag-src rag-cited" if cites else "rag-src"
    url = safe_url(hit.url)
    link = (
        f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow">'
        f"{esc(t['open_article'])}</a>"
        if url
        else ""
    )
    flag = (
        f'<p class="rag-src-flag">{esc(t["instructs"].format(n=len(hit.instructions)))}</p>'
        if hit.instructions
        else ""
    )
    page = (
        f'<span class="rag-src-page">{esc(t["page"].format(n=hit.page))}</span>' if hit.page else ""
    )
    return (
        f'<li class="{cls}" id="{src_id(turn_id, n)}" data-n="{n}">'
        f'<div class="rag-src-head"><span class="rag-src-n">[{n}]</span>'
        f'<span class="rag-src-title">{esc(hit.title or hit.doc_id)}</span>{page}'
        f'<span class="rag-src-date">{esc(hit.date or t["no_date"])}</span>{link}</div>'
        f"{render_passage(hit, cites, doc_text)}{flag}</li>"
    )


def render_sources(
    turns: Sequence[Turn],
    lang: str,
    show_all: bool,
    doc_text: DocText = lambda _id: None,
) -> str:
    """The sources panel: for each turn (newest first, older ones folded) its numbered
    passages with title, date, link and the quoted spans highlighted."""
    t = texts(lang)
    out = [f"<h3>{esc(t['sources'])}</h3>", '<div class="rag-sources-scroll">']
    if not turns:
        out.append(f'<p class="rag-note">{esc(t["sources_empty"])}</p>')
    for pos, turn in enumerate(reversed(turns)):
        head = f"{t['turn'].format(n=turn.id)}: {turn.question}"
        opened = " open" if pos == 0 else ""
        out.append(f'<details class="rag-turn"{opened}><summary>{esc(head)}</summary>')
        numbers = turn.shown_numbers(show_all)
        note = _sources_note(turn, numbers, show_all, t)
        out.append(f'<p class="rag-note">{esc(note)}</p><ol class="rag-src-list">')
        for n in numbers:
            cites = [c for c in turn.citations if c.n == n]
            out.append(render_source(turn.id, n, turn.hits[n - 1], cites, doc_text, lang))
        out.append("</ol></details>")
    out.append("</div>")
    return "".join(out)


def note_html(message: str) -> str:
    """A grey note line."""
    return f'<p class="rag-note">{esc(message)}</p>'


def status_html(message: str, ok: bool) -> str:
    """The one-line outcome of adding or removing articles."""
    cls = "rag-status-ok" if ok else "rag-status-error"
    return f'<p class="{cls}">{esc(first_line(message))}</p>'


def header_html(lang: str) -> str:
    """The page title and subtitle."""
    t = texts(lang)
    return f"<h1>{esc(t['title'])}</h1><p>{esc(t['subtitle'])}</p>"
