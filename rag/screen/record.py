"""Which passages the sentence screen left sentences out of: one JSON file per model file and
probe, beside the passage states, mapping the sha256 of a passage body as the patterns leave it
(``rag.prompt.passage_body``) to its document and the sentences left out. Only passages with
such sentences are recorded; a passage whose state is stored under the probe was read by it.

Writes hold a lock file and replace the file atomically, so processes warming at once keep
each other's records and readers see a whole file."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path


def body_key(body: str) -> str:
    """The record key of a passage body."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class ScreenRecord:
    """The flagged passages of one (model file, probe), read back when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def get(self, body: str) -> tuple[str, ...]:
        """The sentences left out of ``body`` (empty when none were)."""
        entry = self._load().get(body_key(body))
        return tuple(entry.get("sentences", ())) if entry else ()

    def add(self, body: str, doc_id: str, sentences: list[str]) -> None:
        """Record that ``sentences`` of ``body`` (of document ``doc_id``) are left out."""
        from rag.fileio import atomic_write, locked

        with self._lock, locked(self.path.with_suffix(".lock")):
            self._stamp = None
            entries = self._read()
            entries[body_key(body)] = {"doc": doc_id, "sentences": list(sentences)}
            atomic_write(self.path, json.dumps(entries, ensure_ascii=False, indent=0))
            self._entries, self._stamp = entries, None

    def documents(self) -> dict[str, int]:
        """Distinct sentences left out per document id (a passage's earlier versions
        included: the record is never pruned)."""
        found: dict[str, set[str]] = {}
        for entry in self._load().values():
            found.setdefault(str(entry.get("doc", "")), set()).update(entry.get("sentences", ()))
        return {doc: len(sentences) for doc, sentences in found.items()}

    def _load(self) -> dict[str, dict]:
        try:
            st = os.stat(self.path)
        except OSError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._entries, self._stamp = self._read(), stamp
            return self._entries

    def _read(self) -> dict[str, dict]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}
