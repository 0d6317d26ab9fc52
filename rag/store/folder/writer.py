"""The index folder's write side: one writer at a time (a thread lock and a lock file), and a
write plan applied as a new folder swapped in whole (:func:`rag.store.folder.index.write_index`).

Unchanged contents keep their chunks and vectors, so a removal never embeds anything; FAISS and
BM25 are built anew from the stored data on every write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Set
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IndexStateError
from rag.store.base import IndexData, StoreInfo, StoreWriter, WritePlan
from rag.store.folder.index import (
    MANIFEST,
    Index,
    choose_index_type,
    recover,
    remove_leftovers,
    write_index,
)

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.store.base import DocInfo

log = logging.getLogger(__name__)

# One writer at a time per process; readers keep using the index they loaded.
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def write_lock(index_dir: Path | str) -> Iterator[None]:
    """Serialise the writers of one index: threads of this process, and other processes
    through a lock file beside the folder (the folder itself is swapped by each write). Writes
    that were cut short leave temporary folders; the next writer removes them."""
    from rag.fileio import locked

    path = Path(index_dir).resolve()
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(str(path), threading.Lock())

    def waiting() -> None:
        log.warning("waiting for another ingest or removal on %s to finish", path)

    with lock, ExitStack() as stack:
        try:
            stack.enter_context(locked(path.with_name(f".{path.name}.lock"), on_wait=waiting))
        except OSError as exc:
            raise IndexStateError(
                f"cannot write the index at {path}/ ({exc.strerror or exc}): its folder is "
                "read-only or not writable by you; fix the permissions or choose another --index"
            ) from None
        remove_leftovers(path)
        recover(path)
        yield


@contextmanager
def open_writer(settings: Settings, rebuild: bool = False) -> Iterator[FolderWriter]:
    """The writer of the index folder ``settings.index_dir``, holding its write lock; with
    ``rebuild`` the existing index is ignored (and replaced by the first write)."""
    with write_lock(settings.index_dir):
        yield FolderWriter(settings, _load_existing(settings, rebuild))


def _load_existing(settings: Settings, rebuild: bool) -> Index | None:
    """The index at ``settings.index_dir`` (checked against the embedder), None when there is
    none or ``rebuild``."""
    folder = Path(settings.index_dir)
    if rebuild or not (folder / MANIFEST).exists():
        # A half-swapped index is recovered by Index.load; only then is there nothing.
        old = folder.with_name(f".{folder.name}.old")
        if rebuild or not (old / MANIFEST).exists():
            return None
    try:
        index = Index.load(settings.index_dir, settings.embed_model)
    except IndexStateError as exc:
        raise IndexStateError(f"{exc} (or pass --rebuild to start over)") from exc
    _rehash(index)
    return index


def _rehash(index: Index) -> None:
    """Key the content of an index written when content hashes still counted whitespace by
    today's hash, so that its vectors are kept rather than embedded again. Texts that are now
    equal are merged: the chunks of the first document by id are kept, the others' dropped."""
    from rag.documents import text_hash

    data = index.data
    new = {h: text_hash(t) for h, t in data.texts.items()}
    if all(h == n for h, n in new.items()):
        return
    winner: dict[str, str] = {}  # as a new index would: the text of the first id
    for doc in sorted(data.docs.values(), key=lambda d: d.id):
        winner.setdefault(new[doc.hash], doc.hash)
    for h in sorted(data.texts):
        winner.setdefault(new[h], h)
    data.texts = {n: data.texts[h] for n, h in winner.items()}
    for doc in data.docs.values():
        doc.hash = new[doc.hash]
    for row in data.rows:
        # rows of a merged copy get a key no document wants, so they are not kept
        row.hash = new[row.hash] if winner[new[row.hash]] == row.hash else ""


class FolderWriter(StoreWriter):
    """Writes to the index folder of ``settings``; ``index`` is what it holds (None: nothing)."""

    def __init__(self, settings: Settings, index: Index | None) -> None:
        self.settings = settings
        self.index = index

    def info(self) -> StoreInfo | None:
        """The manifest's embedder and chunking; None while there is no index."""
        return self.index.describe() if self.index is not None else None

    def describe_empty(self) -> str:
        """``no index at FOLDER/``."""
        return f"no index at {self.settings.index_dir}/"

    def documents(self) -> dict[str, DocInfo]:
        """The indexed documents by id."""
        return dict(self.index.data.docs) if self.index is not None else {}

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        """The stored texts of those of ``hashes`` the index holds."""
        stored = self.index.data.texts if self.index is not None else {}
        return {h: stored[h] for h in hashes if h in stored}

    def chunk_count(self) -> int:
        """Chunks in the index."""
        return len(self.index) if self.index is not None else 0

    def _same_chunking(self) -> bool:
        data = self.index.data if self.index is not None else None
        s = self.settings
        return data is not None and (data.chunk_size, data.chunk_overlap) == (
            s.chunk_size,
            s.chunk_overlap,
        )

    def same_layout(self) -> bool:
        """Same chunking, and the FAISS kind the settings choose for this many chunks."""
        if not self._same_chunking():
            return False
        s = self.settings
        kind = choose_index_type(s.index_type, len(self.index), s.ann_threshold)
        return self.index.data.index_type == kind

    def reusable(self, hashes: Set[str]) -> set[str]:
        """Those of ``hashes`` with stored chunks, when the chunking is the settings'."""
        if not self._same_chunking():
            return set()
        return {row.hash for row in self.index.data.rows} & set(hashes)

    def apply(self, plan: WritePlan) -> None:
        """Keep the rows of the contents still wanted and not fresh, add the plan's, and swap
        in the new folder (FAISS and BM25 built for it)."""
        import numpy as np

        previous = self.index
        wanted = {d.hash for d in plan.docs.values()}
        texts = dict(previous.data.texts) if previous is not None else {}
        texts.update(plan.texts)
        keep = []
        if previous is not None:
            keep = [
                n
                for n, row in enumerate(previous.data.rows)
                if row.hash in wanted and row.hash not in plan.fresh
            ]
        kept = np.zeros((0, plan.dim), "float32")
        if keep:
            kept = np.asarray(previous.data.vectors[keep], dtype=np.float32).reshape(-1, plan.dim)
        rows = [previous.data.rows[n] for n in keep] + plan.rows
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.hash] = counts.get(r.hash, 0) + 1
        for d in plan.docs.values():
            d.chunks = counts.get(d.hash, 0)
        s = self.settings
        data = IndexData(
            embed_model=plan.embed_model,
            dim=plan.dim,
            chunk_size=plan.chunk_size,
            chunk_overlap=plan.chunk_overlap,
            index_type=choose_index_type(s.index_type, len(rows), s.ann_threshold),
            docs=plan.docs,
            rows=rows,
            texts={h: t for h, t in texts.items() if h in wanted},
            vectors=np.concatenate([kept, plan.vectors]),
        )
        self.index = write_index(s.index_dir, data, previous)
