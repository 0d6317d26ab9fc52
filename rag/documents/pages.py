"""Pages of a paged document (a PDF): they travel inside its text.

Each page of a paged document's ``text`` ends with a form feed (``PAGE_BREAK``, the ASCII page
break that ``pdftotext`` writes too); a page without text is an empty page before its break.
Cleaning turns every other form feed into a space, so ``"\\f" in text`` tells a paged text, and
whatever stores the text (index folder, database) stores its pages with it. Chunks never
cross a page break, so each knows its page.
"""

from __future__ import annotations

from collections.abc import Sequence

PAGE_BREAK = "\f"


def paged_text(pages: Sequence[str]) -> str:
    """The text of a paged document: each page (stripped, form feeds out) then a break."""
    return "".join(p.replace(PAGE_BREAK, " ").strip() + PAGE_BREAK for p in pages)


def page_spans(text: str) -> list[tuple[int, int, int | None]]:
    """``(start, end, page)`` of each page of ``text`` (pages numbered from 1, empty ones
    left out); a text without page breaks is one span whose page is None."""
    if PAGE_BREAK not in text:
        return [(0, len(text), None)]
    spans: list[tuple[int, int, int | None]] = []
    start = 0
    for page, piece in enumerate(text.split(PAGE_BREAK), start=1):
        end = start + len(piece)
        if piece.strip():
            spans.append((start, end, page))
        start = end + 1
    return spans


def page_at(text: str, offset: int) -> int | None:
    """The page (from 1) of ``text`` that holds character ``offset``; None when unpaged."""
    if PAGE_BREAK not in text:
        return None
    return text.count(PAGE_BREAK, 0, offset) + 1
