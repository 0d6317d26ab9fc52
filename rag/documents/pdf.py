"""PDF files: the text of every page, through ``pypdf``. Pages stay apart in the document's
text (``rag.documents.pages``), so every chunk and every citation knows its page.

There is no OCR here: a PDF whose pages hold no text layer (a scan) is refused with one line
that says so. Running headers and footers (lines on most pages) and page numbers are dropped;
lines broken mid-sentence are joined; nothing else is judged debris.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from rag.documents.cleaning import _SPACES, _heading, _normalise, join_broken_lines, short_title
from rag.documents.dates import _article_date
from rag.documents.pages import paged_text
from rag.errors import InputError, first_line

if TYPE_CHECKING:
    from rag.documents import Document

_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|halaman|hal\.?|p\.)\s*)?[-–—(]?\s*\d{1,4}\s*[-–—)]?"
    r"(?:\s*(?:of|dari|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=\w)")
# Titles that PDF writers fill in by themselves.
_JUNK_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint|excel)\b|untitled\b|document\s*\d*$|\W*$)"
    r"|\.(?:docx?|pdf|txt|odt|rtf)$",
    re.IGNORECASE,
)
_FURNITURE_MAX_CHARS = 100
# Headers, footers and page numbers sit in the first or last few lines of a page.
_EDGE_LINES = 2


def pdf_pages(data: bytes, name: str) -> tuple[list[str], str | None]:
    """The raw text of each page of the PDF ``data`` and the title in its metadata. Raises
    ``InputError`` (one line, naming ``name``) for data that is not a readable PDF."""
    if b"%PDF-" not in data[:1024]:
        raise InputError(
            f"{name} is not a PDF (it does not start like one); give the real file, or "
            "rename it to its type"
        )
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(
                f"{name} is password-protected; save a copy without a password and add that"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except InputError:
        raise
    except Exception as err:  # pypdf raises many kinds on a damaged file
        why = first_line(err) or type(err).__name__
        raise InputError(
            f"cannot read {name} as a PDF ({why}); open it and save it again, or add its text "
            "as a .txt file"
        ) from err
    return pages, title if isinstance(title, str) else None


def _edges(lines: list[str]) -> set[int]:
    """Indexes of the first and last ``_EDGE_LINES`` lines with text of a page."""
    filled = [i for i, ln in enumerate(lines) if ln]
    return set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:])


def _furniture(pages: list[list[str]]) -> set[str]:
    """Short lines (digits blurred) at the top or foot of most pages with text: running
    headers and footers ("Harian Contoh", "Halaman 3 dari 9")."""
    with_text = [lines for lines in pages if any(lines)]
    if len(with_text) < 2:
        return set()
    counts = Counter(
        key
        for lines in with_text
        for key in {
            _DIGITS.sub("#", lines[i])
            for i in _edges(lines)
            if len(lines[i]) <= _FURNITURE_MAX_CHARS
        }
    )
    least = max(2.0, 0.6 * len(with_text))
    return {key for key, n in counts.items() if n >= least}


def page_texts(raw_pages: list[str]) -> list[str]:
    """The cleaned text of each page: page numbers, running headers and footers (at a page's
    top or foot only: a number alone in a table stays) out, lines broken mid-sentence (or after
    a hyphen) joined."""
    pages = [[ln.strip() for ln in _normalise(raw).split("\n")] for raw in raw_pages]
    furniture = _furniture(pages)
    out: list[str] = []
    for lines in pages:
        edges = _edges(lines)
        kept = [
            ln
            for i, ln in enumerate(lines)
            if i not in edges or not (_PAGE_NUMBER.match(ln) or _DIGITS.sub("#", ln) in furniture)
        ]
        out.append(join_broken_lines(_HYPHEN_BREAK.sub(r"\1-", "\n".join(kept))))
    return out


def _title(meta_title: str | None, first_page: str, name: str) -> str:
    title = (meta_title or "").strip()
    if _JUNK_TITLE.search(title):
        title = ""
    title = title or _heading(first_page) or short_title(first_page) or Path(name).stem
    return _SPACES.sub(" ", title.replace("\n", " ")).strip()


def pdf_document(
    doc_id: str,
    data: bytes,
    *,
    name: str,
    path: str | None = None,
    url: str | None = None,
) -> Document:
    """The ``Document`` of the PDF ``data`` (``name`` is how errors call it): one page after
    another, each ending with a page break. Raises ``InputError`` for a scanned PDF (no text
    layer), a password-protected or a damaged one."""
    from rag.documents import Document

    raw_pages, meta_title = pdf_pages(data, name)
    pages = page_texts(raw_pages)
    first = next((p for p in pages if p.strip()), None)
    if first is None:
        raise InputError(
            f"{name} has no text layer (a scanned PDF?); this app does no OCR: run one on it "
            "first (e.g. ocrmypdf) and add the result"
        )
    text = paged_text(pages)
    return Document(
        id=doc_id,
        text=text,
        title=_title(meta_title, first, name),
        date=_article_date(first),
        url=url,
        path=path,
    )
