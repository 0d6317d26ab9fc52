"""Reading article files and folders (.txt, .md, .html/.htm, .pdf, .docx, .jsonl) and
http(s) links into ``Document``s."""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag.documents.formats import document_from_text
from rag.errors import InputError

if TYPE_CHECKING:
    from rag.documents import Document
    from rag.settings import Settings

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".txt", ".md", ".html", ".htm", ".jsonl", ".pdf", ".docx"
)  # fmt: skip
# Formats read as bytes by their own readers (which check that a file is what its name says).
BINARY_SUFFIXES: tuple[str, ...] = (".pdf", ".docx")
# Control characters other than tab, newline and carriage return: text has almost none.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``. Raises ``InputError`` for a file over ``max_bytes`` (before
    reading it) or an empty one."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise InputError(
                f"{path} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit for one "
                "file; split it, or raise RAG_MAX_FILE_MB"
            )
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err
    if not data.strip():
        raise InputError(f"{path} is empty; add the article's text or leave the file out")
    return data


def _read(path: Path, max_bytes: int | None = None) -> str:
    """The text of ``path``, its encoding found (a BOM, UTF-8, Windows-1252, Latin-1). Raises
    ``InputError`` for a file over ``max_bytes`` (before reading it), an empty one, or binary
    data."""
    data = _read_bytes(path, max_bytes)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        text = _decode(data)
    if not text.strip():
        raise InputError(f"{path} is empty; add the article's text or leave the file out")
    controls = sum(1 for c in text[:8192] if _CONTROL.match(c))
    if "\x00" in text or controls > len(text[:8192]) / 20:
        raise InputError(
            f"{path} holds binary data, not text; give articles as .txt, .md, .html, .pdf, "
            ".docx or .jsonl"
        )
    return text


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _record(line: str, doc_path: str) -> Document:
    """The document of one JSONL line; ``InputError`` says what is wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg})") from err
    if not isinstance(record, dict):
        raise InputError('expected an object like {"id": ..., "text": ...}')
    doc_id, text = record.get("id"), record.get("text")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise InputError('needs a non-empty string "id"')
    if not isinstance(text, str):
        raise InputError('needs a string "text"')
    extra = {}
    for key in ("title", "url", "date"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(f'"{key}" must be a string')
        extra[key] = value or None
    return document_from_text(doc_id.strip(), text, path=doc_path, **extra)


def _jsonl(path: Path, doc_path: str, max_bytes: int | None) -> Iterator[Document]:
    """The documents of a JSONL file, all or none: a file with bad lines is rejected whole,
    with every bad line's number, so nothing is half-ingested."""
    docs: list[Document] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(_read(path, max_bytes).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            docs.append(_record(line, doc_path))
        except InputError as err:
            bad.append((number, str(err)))
    if bad:
        lines = ", ".join(str(n) for n, _ in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise InputError(
            f"{path}: {len(bad)} bad line(s) ({lines}); line {bad[0][0]}: {bad[0][1]}; "
            "fix or remove them (nothing of this file was indexed)"
        )
    yield from docs


def _load_file(path: Path, doc_id: str, max_bytes: int | None) -> Iterator[Document]:
    suffix = path.suffix.lower()
    doc_path = str(path.resolve())
    if suffix == ".jsonl":
        yield from _jsonl(path, doc_path, max_bytes)
        return
    if suffix == ".pdf":
        from rag.documents.pdf import pdf_document

        yield pdf_document(doc_id, _read_bytes(path, max_bytes), name=str(path), path=doc_path)
        return
    if suffix == ".docx":
        from rag.documents.word import docx_document

        yield docx_document(doc_id, _read_bytes(path, max_bytes), name=str(path), path=doc_path)
        return
    kind = {".md": "md", ".html": "html", ".htm": "html"}.get(suffix, "txt")
    yield document_from_text(doc_id, _read(path, max_bytes), kind=kind, path=doc_path)


def _folder_files(folder: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
                raise InputError(
                    f"{path} links to {path.resolve()}, outside {folder}; copy the file into "
                    "the folder or give it directly"
                )
            found.append((path, path.relative_to(folder).as_posix()))
    return sorted(found, key=lambda item: item[1])


def _given_files(given: Path) -> list[tuple[Path, str]]:
    """The (file, document id) pairs a path given to ``load_paths`` stands for."""
    if given.is_dir():
        return _folder_files(given)
    if given.is_file():
        if given.suffix.lower() not in SUPPORTED_SUFFIXES:
            allowed = ", ".join(SUPPORTED_SUFFIXES)
            raise InputError(f"cannot read {given}: unsupported file type; use {allowed}")
        return [(given, given.name)]
    raise InputError(f"no such file or folder: {given}")


def load_paths(
    paths: Iterable[Path | str], max_file_bytes: int | None = None
) -> Iterator[Document]:
    """Documents from files and folders (searched recursively, in sorted order, hidden files
    skipped). A file's id is its path relative to the folder given, or its name when given
    directly; a .jsonl line's id is its record's ``id``. Raises ``InputError`` for missing paths,
    unsupported files given explicitly, bad .jsonl lines, ids used by two different files, files
    over ``max_file_bytes``, empty or binary files and links out of a folder given."""
    seen_files: set[Path] = set()
    owners: dict[str, str] = {}
    for given in paths:
        for path, doc_id in _given_files(Path(given)):
            resolved = path.resolve()
            if resolved in seen_files:
                continue
            seen_files.add(resolved)
            for doc in _load_file(path, doc_id, max_file_bytes):
                owner = owners.get(doc.id)
                if owner is not None:
                    where = f"twice in {path}" if owner == str(path) else f"by {owner} and {path}"
                    raise InputError(f"document id {doc.id!r} is used {where}; rename one of them")
                owners[doc.id] = str(path)
                yield doc


_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def _page_text(body: bytes, charset: str | None) -> str:
    """The text of a downloaded page: its declared charset (header, then ``<meta>``), else
    UTF-8, Windows-1252, Latin-1."""
    declared = _META_CHARSET.search(body[:4096])
    for encoding in (charset, declared[1].decode("ascii") if declared else None):
        if encoding:
            try:
                return body.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
    return _decode(body)


def url_document(url: str, settings: Settings) -> Document:
    """The document of the page (or PDF) at ``url``: its id is the link (without a
    ``#fragment``), its url the page's canonical address, else where redirects ended. Raises
    ``InputError`` for whatever fails (``rag.documents.fetch``), and for a page holding no
    article text."""
    from rag.documents.fetch import PDF_TYPES, fetch

    doc_id = url.strip().split("#", 1)[0]
    page = fetch(doc_id, settings.fetch_timeout, int(settings.fetch_max_mb * 1_000_000))
    if page.content_type in PDF_TYPES or page.body.startswith(b"%PDF-"):
        from rag.documents.pdf import pdf_document

        return pdf_document(doc_id, page.body, name=doc_id, url=page.url)
    kind = "txt" if page.content_type == "text/plain" else "html"
    text = _page_text(page.body, page.charset)
    doc = document_from_text(doc_id, text, kind=kind, base_url=page.url)
    if not doc.text.strip():
        raise InputError(
            f"no article text at {url}; if the page needs a login or JavaScript, save it from "
            "your browser and add the file"
        )
    return doc


def load_sources(sources: Iterable[Path | str], settings: Settings) -> list[Document]:
    """Documents from files, folders (``load_paths``) and http(s) links (``url_document``),
    all read before anything is indexed: any failure raises ``InputError`` and nothing of the
    others is used."""
    from rag.documents.fetch import is_url

    paths: list[Path] = []
    urls: list[str] = []
    for source in sources:
        if is_url(source):
            urls.append(str(source).strip())
            continue
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path} does not exist; give files or folders of articles, or links")
        paths.append(path)
    docs = list(load_paths(paths, max_file_bytes=int(settings.max_file_mb * 1_000_000)))
    docs.extend(url_document(url, settings) for url in dict.fromkeys(urls))
    return docs
