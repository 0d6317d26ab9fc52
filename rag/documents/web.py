"""The article of an HTML page, through ``trafilatura`` (main-text extraction): its body,
title, date, author and canonical URL, without navigation, "related stories", comment forms
and footers.

Its text then goes through the line cleaner every format shares (``rag.documents.cleaning``),
which catches what trafilatura keeps inside the article ("Baca juga: ...", a comment list
under a "Komentar" heading, a press office's contact footer). On the saved pages in
``tests/data/pages`` this kept every body sentence and dropped all 50 debris lines, where the
earlier BeautifulSoup path kept 9 of them (README, "Formats and links"). A page trafilatura
finds no article in, or less text than its own threshold for one (a snippet: it then returns
the whole body, navigation included), falls back to that path.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

# trafilatura reports pages it finds nothing in as warnings; a fallback follows, so say less.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

# trafilatura's MIN_EXTRACTED_SIZE: below it, it gives the page's whole body text instead.
MIN_ARTICLE_CHARS = 250
# Bylines name their people with a role: writers kept (label dropped), editors left out.
_WRITER_LABEL = re.compile(
    r"^(?:penulis|reporter|wartawan|kontributor|oleh|by|author|written by)\b\W*", re.I
)
_EDITOR = re.compile(r"^(?:editor|penyunting|redaktur|editing)\b", re.I)


@dataclass(frozen=True)
class WebArticle:
    """What trafilatura found in a page: paragraphs separated by blank lines, and metadata."""

    text: str
    title: str | None = None
    date: str | None = None
    author: str | None = None
    url: str | None = None


def extract_article(html: str, url: str | None = None) -> WebArticle | None:
    """The main article of ``html`` (fetched from ``url``, when known), or None when
    trafilatura finds no article of at least ``MIN_ARTICLE_CHARS`` in it."""
    import trafilatura

    result = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
    )
    text = getattr(result, "text", None) if result is not None else None
    if not text or len(text.strip()) < MIN_ARTICLE_CHARS:
        return None
    return WebArticle(
        # one element a line in trafilatura's text: make each its own paragraph
        text="\n\n".join(line.strip() for line in text.split("\n")),
        title=_value(result, "title"),
        date=_value(result, "date"),
        author=_author(_value(result, "author")),
        url=_value(result, "url"),
    )


def _author(byline: str | None) -> str | None:
    """The writers of a byline ("Penulis Agus Salim; Editor Dewi Lestari" -> "Agus Salim")."""
    if not byline:
        return None
    names = [_WRITER_LABEL.sub("", part.strip()) for part in byline.split(";")]
    kept = [n for n in names if n and not _EDITOR.match(n)]
    return "; ".join(kept) or None


def _value(result: object, name: str) -> str | None:
    value = getattr(result, name, None)
    return value.strip() or None if isinstance(value, str) else None
