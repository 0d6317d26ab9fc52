"""Reading article files and folders (.txt, .md, .html/.htm, .jsonl) into ``Document``s."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag.documents.formats import document_from_text
from rag.errors import InputError

if TYPE_CHECKING:
    from rag.documents import Document

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".jsonl")


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _jsonl(path: Path, doc_path: str) -> Iterator[Document]:
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: not valid JSON ({err.msg}); fix or remove it") from err
        if not isinstance(record, dict):
            raise InputError(f'{where}: expected an object like {{"id": ..., "text": ...}}')
        doc_id, text = record.get("id"), record.get("text")
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise InputError(f'{where}: needs a non-empty string "id"')
        if not isinstance(text, str):
            raise InputError(f'{where}: needs a string "text"')
        extra = {}
        for key in ("title", "url", "date"):
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                raise InputError(f'{where}: "{key}" must be a string')
            extra[key] = value or None
        yield document_from_text(doc_id.strip(), text, path=doc_path, **extra)


def _load_file(path: Path, doc_id: str) -> Iterator[Document]:
    suffix = path.suffix.lower()
    doc_path = str(path.resolve())
    if suffix == ".jsonl":
        yield from _jsonl(path, doc_path)
        return
    kind = {".md": "md", ".html": "html", ".htm": "html"}.get(suffix, "txt")
    yield document_from_text(doc_id, _read(path), kind=kind, path=doc_path)


def _folder_files(folder: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            path = Path(dirpath) / name
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


def load_paths(paths: Iterable[Path | str]) -> Iterator[Document]:
    """Documents from files and folders (searched recursively, in sorted order, hidden files
    skipped). A file's id is its path relative to the folder given, or its name when given
    directly; a .jsonl line's id is its record's ``id``. Raises ``InputError`` for missing paths,
    unsupported files given explicitly, bad .jsonl lines and ids used by two different files."""
    seen_files: set[Path] = set()
    owners: dict[str, str] = {}
    for given in paths:
        for path, doc_id in _given_files(Path(given)):
            resolved = path.resolve()
            if resolved in seen_files:
                continue
            seen_files.add(resolved)
            for doc in _load_file(path, doc_id):
                owner = owners.get(doc.id)
                if owner is not None:
                    where = f"twice in {path}" if owner == str(path) else f"by {owner} and {path}"
                    raise InputError(f"document id {doc.id!r} is used {where}; rename one of them")
                owners[doc.id] = str(path)
                yield doc
