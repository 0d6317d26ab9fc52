"""Loading news articles from files and links, and cleaning the debris that scraped web pages
carry.

``load_paths`` turns files and folders (.txt, .md, .html/.htm, .pdf, .docx, .jsonl) into
``Document``s whose ``text`` is plain, cleaned text: chunk offsets index into it;
``load_sources`` does the same for http(s) links too. ``clean_text`` is the rule-based,
line-level cleaner (comment forms, "other stories" lists, view counters, contact footers, broken
lines) shared by the text formats and web pages.

Modules: ``dates`` (date parsing), ``cleaning`` (the line rules and titles), ``formats`` (front
matter, Markdown, HTML), ``web`` (the article of a page, through trafilatura), ``pdf`` (pypdf,
text per page), ``word`` (python-docx), ``pages`` (page breaks inside a text), ``fetch``
(downloading a link with httpx) and ``loading`` (files, folders, JSONL, links). ``Document``
and ``text_hash`` live here, so that ``Document.content_hash`` is whatever
``rag.documents.text_hash`` is. Heavy libraries are imported only when a file needs them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from rag.documents.cleaning import TITLE_MAX_CHARS, clean_text, short_title
from rag.documents.dates import parse_date
from rag.documents.formats import document_from_text, markdown_to_text
from rag.documents.loading import SUPPORTED_SUFFIXES, load_paths, load_sources, url_document

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TITLE_MAX_CHARS",
    "Document",
    "clean_text",
    "document_from_text",
    "load_paths",
    "load_sources",
    "markdown_to_text",
    "parse_date",
    "short_title",
    "text_hash",
    "url_document",
]

_WHITESPACE = re.compile(r"\s+")


def text_hash(text: str) -> str:
    """sha256 hex digest of ``text`` without its whitespace (see ``Document.content_hash``)."""
    return hashlib.sha256(_WHITESPACE.sub("", text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Document:
    """One article: ``text`` is the cleaned text every chunk offset points into (a PDF's
    pages each end with a form feed, ``rag.documents.pages``)."""

    id: str
    text: str
    title: str
    date: str | None = None
    url: str | None = None
    path: str | None = None
    author: str | None = None

    @property
    def content_hash(self) -> str:
        """sha256 hex digest of the cleaned text without its whitespace: what decides whether
        to re-embed, and which documents are stored once. Copies of one article that differ
        only in spacing ("Rp 6, 5 miliar" from a tokenised corpus beside "Rp 6,5 miliar")
        share it; a change of spacing alone does not re-embed a document."""
        return text_hash(self.text)
