"""Files people add in the Articles tab: which are accepted, the safe names they are stored
under (in a folder next to the index), and undoing a store when indexing fails."""

from __future__ import annotations

import codecs
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from rag.documents.loading import BINARY_SUFFIXES, SUPPORTED_SUFFIXES
from rag.errors import InputError
from rag.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = SUPPORTED_SUFFIXES
DEFAULT_MAX_UPLOAD_MB = 10.0

Problem = tuple[str, dict[str, str]]
"""Why a file is refused: a ``ui.texts`` key and the fields of its template."""


def upload_dir(settings: Settings) -> Path:
    """Where uploaded files are kept: a folder next to the index (``<index>-uploads``)."""
    index = Path(settings.index_dir).resolve()
    return index.parent / f"{index.name}-uploads"


def safe_upload_name(name: str) -> str:
    """A file name that cannot leave its folder: last path part only, ASCII letters, digits,
    ``._-``, no leading dot, at most 120 characters; the suffix is lower-cased."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "upload"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(path: Path, name: str, max_bytes: int) -> Problem | None:
    """Why the file at ``path`` (sent as ``name``) may not be added, or None when it is fine."""
    shown = safe_upload_name(name)
    if Path(shown).suffix not in UPLOAD_SUFFIXES:
        return "bad_type", {"name": shown}
    try:
        size = path.stat().st_size
    except OSError:
        return "empty", {"name": shown}
    if size > max_bytes:
        return "too_big", {"name": shown, "mb": f"{max_bytes / 1e6:g}"}
    if size == 0:
        return "empty", {"name": shown}
    if Path(shown).suffix in BINARY_SUFFIXES:
        return None  # PDF and Word files hold NULs; ingest checks them (one line if bad)
    with path.open("rb") as fh:
        head = fh.read(65536)
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # NULs are its text
    if b"\x00" in head and not utf16:
        return "binary", {"name": shown}
    return None


def first_problem(
    files: Iterable[tuple[Path, str]], max_bytes: int, max_total_bytes: int | None = None
) -> Problem | None:
    """The first refusal among ``(path, sent name)`` pairs, or None when all may be added;
    the files together may hold at most ``max_total_bytes``."""
    files = list(files)
    problem = next((p for path, name in files if (p := check_upload(path, name, max_bytes))), None)
    if problem is None and max_total_bytes is not None:
        total = sum(path.stat().st_size for path, _ in files)
        if total > max_total_bytes:
            mb, limit = f"{total / 1e6:.1f}", f"{max_total_bytes / 1e6:g}"
            return "too_big_total", {"mb": mb, "limit": limit}
    return problem


def _restore(previous: dict[Path, bytes | None]) -> None:
    """Put back what the stored files replaced (delete those that were new)."""
    for target, old in previous.items():
        try:
            if old is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(old)
        except OSError:
            log.exception("could not undo upload of %s", target)


def _target(root: Path, safe: str, taken: dict[Path, bytes | None]) -> Path:
    """``root/safe``, numbered (``name-2.txt``) when this batch already stored that name."""
    target = (root / safe).resolve()
    n = 2
    while target in taken:
        target = (root / f"{Path(safe).stem}-{n}{Path(safe).suffix}").resolve()
        n += 1
    return target


def store_uploads(
    files: list[tuple[Path, str]], folder: Path
) -> tuple[list[Path], Callable[[], None]]:
    """Copy ``(path, sent name)`` pairs into ``folder`` under safe names. Returns the stored
    paths and a function that undoes the copy (restoring files it overwrote)."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    stored: list[Path] = []
    previous: dict[Path, bytes | None] = {}
    try:
        for source, name in files:
            target = _target(root, safe_upload_name(name), previous)
            if target.parent != root:
                raise InputError(f"refusing to store {name!r} outside {root}")
            previous[target] = target.read_bytes() if target.exists() else None
            tmp = target.with_name(f".{target.name}.part")
            tmp.write_bytes(source.read_bytes())
            os.replace(tmp, target)
            stored.append(target)
    except BaseException:
        _restore(previous)
        raise
    return stored, lambda: _restore(previous)


def discard_unused(paths: Iterable[str], folder: Path) -> list[Path]:
    """Delete the files among ``paths`` that this app stored in ``folder`` (others are left
    alone); returns the deleted paths."""
    root = folder.resolve()
    deleted: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.resolve().parent == root and path.exists():
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted
