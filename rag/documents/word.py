"""Word files (.docx), through ``python-docx``: paragraphs in order, headings as their own
paragraphs (the first one, or the file's title property, is the title), tables as rows of
text (``cell | cell | cell``). Old binary ``.doc`` files and damaged ones are one line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.documents.cleaning import _SPACES, _heading, _normalise, short_title
from rag.documents.dates import _article_date
from rag.errors import InputError, first_line

if TYPE_CHECKING:
    from rag.documents import Document

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Word 97-2003 .doc and other old Office files
# Unpacked, a .docx is mostly XML: far more than this is a zip bomb, not an article.
MAX_UNPACKED_BYTES = 200_000_000
_JUNK_TITLES = {"", "title", "judul", "document", "dokumen"}


def _line(text: str) -> str:
    return _SPACES.sub(" ", _normalise(text)).strip()


def _check_package(data: bytes, name: str) -> None:
    """Raise ``InputError`` unless ``data`` looks like a .docx of a sane unpacked size."""
    if data.startswith(_OLE_MAGIC):
        raise InputError(
            f"{name} is an old Word .doc file, not .docx; open it in Word or LibreOffice, save "
            "it as .docx and add that"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise InputError(f"{name} is not a Word .docx file; give the real file, or its text")
    try:
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except zipfile.BadZipFile as err:
        raise InputError(
            f"cannot read {name} as a Word document ({first_line(err)}); open it and save it again"
        ) from err
    if unpacked > MAX_UNPACKED_BYTES:
        raise InputError(
            f"{name} unpacks to {unpacked / 1e6:.0f} MB, over {MAX_UNPACKED_BYTES / 1e6:g} MB; "
            "save its text as a .txt file and add that"
        )


def _table_rows(table: Any) -> list[str]:
    """One line per table row: its cells' text joined by `` | `` (merged cells once)."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = _line(cell.text.replace("\n", " "))
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _is_heading(paragraph: Any) -> bool:
    style = paragraph.style.name if paragraph.style is not None else ""
    return style == "Title" or style.startswith("Heading")


def docx_blocks(data: bytes, name: str) -> tuple[list[str], str | None, str | None]:
    """The text blocks of a .docx in order (paragraphs, tables), its first heading and its
    title property."""
    _check_package(data, name)
    import docx

    try:
        word = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        heading: str | None = None
        for item in word.iter_inner_content():
            if hasattr(item, "rows"):  # a table
                rows = _table_rows(item)
                if rows:
                    blocks.append("\n".join(rows))
                continue
            text = "\n".join(_line(ln) for ln in item.text.split("\n")).strip()
            if text:
                blocks.append(text)
                if heading is None and _is_heading(item):
                    heading = text
        prop_title = word.core_properties.title
    except Exception as err:  # python-docx raises many kinds on a damaged package
        why = first_line(err) or type(err).__name__
        raise InputError(
            f"cannot read {name} as a Word document ({why}); open it and save it again"
        ) from err
    return blocks, heading, prop_title or None


def docx_document(
    doc_id: str, data: bytes, *, name: str, path: str | None = None, url: str | None = None
) -> Document:
    """The ``Document`` of the .docx ``data`` (``name`` is how errors call it). Raises
    ``InputError`` for an old .doc, a damaged file, a zip bomb or a file without text."""
    from rag.documents import Document

    blocks, heading, prop_title = docx_blocks(data, name)
    text = "\n\n".join(blocks)
    if not text.strip():
        raise InputError(f"{name} holds no text; add a document that has some")
    title = prop_title if (prop_title or "").strip().lower() not in _JUNK_TITLES else None
    title = title or heading or _heading(text) or short_title(text) or Path(name).stem
    return Document(
        id=doc_id,
        text=text,
        title=_SPACES.sub(" ", title.replace("\n", " ")).strip(),
        date=_article_date(text),
        url=url,
        path=path,
    )
