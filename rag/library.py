"""The indexed articles as a service for front ends: list them, read one, add files, remove
documents.

There is one index cache per process, :func:`rag.retrieve.get_index`'s: the documents
listed here are those of the very index that answers questions, reloaded when the index changes
on disk. Only a failure to load is remembered here (keyed by the manifest's stamp), so a
missing or broken index is not re-read on every page view.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError, first_line
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.ingest import IngestSummary, Progress
    from rag.store.base import DocInfo
    from rag.store.folder.index import Index

_write_locks: dict[str, threading.RLock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(index_dir: Path) -> threading.RLock:
    """The process-wide lock for changes to the index at ``index_dir`` (re-entrant, so a caller
    may hold it around storing files and :meth:`Library.add`)."""
    key = str(index_dir.resolve())
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.RLock())


class Library:
    """The documents of ``settings.index_dir``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.write_lock = _write_lock(Path(settings.index_dir))
        self._failed: tuple[object, str] | None = None  # (manifest stamp, why)

    @property
    def has_index(self) -> bool:
        """Whether an index exists at ``settings.index_dir`` (loadable or not); a PostgreSQL
        store (``settings.store``) counts as one."""
        from rag.store import is_postgres
        from rag.store.folder.index import MANIFEST

        return is_postgres(self.settings) or (Path(self.settings.index_dir) / MANIFEST).exists()

    def _stamp(self) -> object:
        from rag.store import is_postgres
        from rag.store.folder.index import manifest_stamp

        if is_postgres(self.settings):  # read live: a failure is remembered for 5 s at most
            import time

            return int(time.monotonic() // 5)
        return manifest_stamp(self.settings.index_dir)

    def snapshot(self) -> tuple[Index | None, str | None]:
        """The loaded index (or None) and, when it could not be loaded, why (one line)."""
        from rag.retrieve import get_index

        stamp = self._stamp()
        failed = self._failed
        if failed is not None and failed[0] == stamp:
            return None, failed[1]
        try:
            index = get_index(self.settings)
        except RagError as exc:
            self._failed = (stamp, first_line(exc))
            return None, self._failed[1]
        self._failed = None
        return index, None

    def documents(self) -> list[DocInfo]:
        """The indexed documents, sorted by id (empty when there is no index). A document's
        ``instructions`` counts the sentences the patterns found at ingest and those the
        model's sentence screen left out while warming (``rag.screen``)."""
        from dataclasses import replace

        from rag.screen import left_out_by_document

        index, _ = self.snapshot()
        if index is None:
            return []
        screened = left_out_by_document(self.settings)
        return [
            replace(d, instructions=d.instructions + screened[d.id]) if d.id in screened else d
            for d in index.documents()
        ]

    def document_text(self, doc_id: str) -> str | None:
        """The cleaned text of ``doc_id``, or None when it is not (or no longer) indexed."""
        index, _ = self.snapshot()
        if index is None:
            return None
        try:
            return index.document_text(doc_id)
        except RagError:
            return None

    def add(self, paths: Sequence[Path | str], progress: Progress | None = None) -> IngestSummary:
        """Index the files at ``paths`` and the http(s) links among them (added or updated);
        raises ``RagError`` and changes nothing when one of them cannot be read or fetched."""
        from rag.ingest import ingest

        with self.write_lock:
            return ingest(paths, self.settings, progress=progress)

    def remove(self, ids: Iterable[str]) -> tuple[IngestSummary, list[str]]:
        """Drop the documents ``ids``. Returns what changed and the source paths of the removed
        documents that no remaining document comes from (the caller may delete its copies)."""
        from rag.ingest import remove

        ids = list(ids)
        with self.write_lock:
            paths = {d.id: d.path for d in self.documents()}
            summary = remove(ids, self.settings)
            remaining = {d.path for d in self.documents()}
        unused = {p for i in ids if (p := paths.get(i)) and p not in remaining}
        return summary, sorted(unused)
