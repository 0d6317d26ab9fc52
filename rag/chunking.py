"""Splitting cleaned documents into passages that remember where they come from.

Chunks follow paragraph, line and sentence boundaries (then ``;``, ``,`` and spaces for very long
sentences) and carry character offsets into ``Document.text``: ``doc.text[c.start:c.end] ==
c.text``. Words are never cut: a single "word" longer than the chunk size stays whole. Chunks
of a paged document (a PDF, ``rag.documents.pages``) never cross a page and know their page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.documents.pages import page_spans
from rag.errors import InputError
from rag.settings import Settings

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.documents import Document

DEFAULT_SIZE: int = Settings.model_fields["chunk_size"].default
DEFAULT_OVERLAP: int = Settings.model_fields["chunk_overlap"].default

# Regexes without capture groups (the splitter wraps each in one). Separators stay at the end of
# the piece before them, so every piece starts at the beginning of a paragraph, sentence or word.
SEPARATORS: list[str] = [
    r"\n\s*\n\s*",  # paragraph
    r"\n\s*",  # line
    r"(?<=[.!?…])[\"'”’)\]]*\s+",  # sentence end, closing quotes and brackets included
    r";\s+",
    r",\s+",
    r"\s+",
]


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``text == document.text[start:end]``; ``page`` (from 1) for a
    paged document, else None."""

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    page: int | None = None


@lru_cache(maxsize=8)
def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        chunk_size=size,
        chunk_overlap=overlap,
        strip_whitespace=True,
    )


def split_text(text: str, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[str]:
    """Pieces of ``text`` of at most ``size`` characters (unless one word is longer), stripped,
    in order, each a substring of ``text``; neighbours share up to ``overlap`` characters."""
    if size < 1:
        raise InputError(f"chunk size must be at least 1 character, got {size}")
    if not 0 <= overlap < size:
        raise InputError(f"chunk overlap must be between 0 and chunk size - 1 ({size - 1})")
    if not text.strip():
        return []
    # The splitter leaves a piece too long to split (one huge word) unstripped.
    pieces = (piece.strip() for piece in _splitter(size, overlap).split_text(text))
    return [piece for piece in pieces if piece]


def chunk_document(
    doc: Document, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    """The chunks of ``doc`` with ids ``f"{doc.id}#{i}"`` and offsets into ``doc.text``. No chunk
    is empty or without a letter or digit; a short leftover (a headline, a trailing "(AP)") is
    joined to a neighbour when the two fit in ``size``. A paged document is chunked page by
    page: each chunk carries its page."""
    text = doc.text
    spans: list[tuple[int, int, int | None]] = []
    for lo, hi, page in page_spans(text):
        part = text[lo:hi]
        merged = _merge_short(part, _spans(part, doc.id, size, overlap), size)
        spans.extend((lo + start, lo + end, page) for start, end in merged)
    return [
        Chunk(f"{doc.id}#{i}", doc.id, text[start:end], start, end, page)
        for i, (start, end, page) in enumerate(spans)
    ]


def _spans(text: str, doc_id: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Offsets in ``text`` of its pieces (``split_text``) that hold a letter or digit."""
    spans: list[tuple[int, int]] = []
    prev_start, prev_end = -1, 0
    for piece in split_text(text, size, overlap):
        # Pieces come in order and lose nothing but whitespace, so a piece starts after the
        # previous start and no later than the first non-space character after the previous end
        # (exactly there when overlap is 0).
        limit = prev_end
        while limit < len(text) and text[limit].isspace():
            limit += 1
        start = text.rfind(piece, prev_start + 1, limit + len(piece))
        if start < 0:  # pragma: no cover - defensive; the splitter only returns substrings
            start = text.find(piece, prev_start + 1)
        if start < 0:  # pragma: no cover
            raise RuntimeError(f"chunk of {doc_id!r} not found in its text")
        end = start + len(piece)
        if any(c.isalnum() for c in piece):
            spans.append((start, end))
        prev_start, prev_end = start, max(end, prev_end)
    return spans


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _merge_short(text: str, spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Join spans shorter than a fifth of ``size`` to a neighbour (same paragraph first) when
    the joined span still fits in ``size``."""
    min_chars = size // 5
    spans = list(spans)
    i = 0
    while i < len(spans):
        start, end = spans[i]
        options = []
        if end - start < min_chars:
            for j in (i - 1, i + 1):
                if not 0 <= j < len(spans):
                    continue
                lo, hi = min(start, spans[j][0]), max(end, spans[j][1])
                if hi - lo > size:
                    continue
                first, second = sorted((spans[i], spans[j]))
                gap = text[first[1] : second[0]] if second[0] > first[1] else ""
                options.append((bool(_PARAGRAPH_BREAK.search(gap)), hi - lo, j, lo, hi))
        if not options:
            i += 1
            continue
        _, _, j, lo, hi = min(options)
        keep = min(i, j)
        spans[keep] = (lo, hi)
        del spans[keep + 1]
        i = keep
    return spans
