"""Incremental ingest: documents -> chunks -> embeddings -> a new index swapped in atomically.

Unchanged documents cost nothing, a changed document is replaced, identical content under two ids
is embedded once, and removing documents never re-embeds anything (the vectors are kept).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Set
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexStateError, InputError
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.index import ChunkRow, Index

Progress = Callable[[int, int, str], None]

# One writer at a time per process; readers keep using the index they loaded.
log = logging.getLogger(__name__)

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def write_lock(index_dir: Path | str) -> Iterator[None]:
    """Serialise the writers of one index: threads of this process, and other processes
    through a lock file beside the folder (the folder itself is swapped by each write). Writes
    that were cut short leave temporary folders; the next writer removes them."""
    from rag.fileio import locked
    from rag.index import recover, remove_leftovers

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


@dataclass
class IngestSummary:
    """What an ingest or a removal changed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    documents: int = 0
    chunks: int = 0
    new_chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        """New chunks embedded and indexed per second of the whole run."""
        return self.new_chunks / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """A one-line human summary."""
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed; {self.documents} documents, {self.chunks} chunks "
            f"({self.new_chunks} new) in {self.seconds:.1f} s, "
            f"{self.chunks_per_s:.1f} chunks/s"
        )


def _load_existing(settings: Settings, rebuild: bool):  # -> Index | None
    from rag.index import MANIFEST, Index

    if rebuild or not (Path(settings.index_dir) / MANIFEST).exists():
        # A half-swapped index is recovered by Index.load; only then is there nothing.
        old = Path(settings.index_dir).with_name(f".{Path(settings.index_dir).name}.old")
        if rebuild or not (old / MANIFEST).exists():
            return None
    try:
        index = Index.load(settings.index_dir, settings.embed_model)
    except IndexStateError as exc:
        raise IndexStateError(f"{exc} (or pass --rebuild to start over)") from exc
    _rehash(index)
    return index


def _by_content(docs: list) -> dict[str, list]:
    """Documents grouped by content hash, each group sorted by id."""
    groups: dict[str, list] = {}
    for doc in sorted(docs, key=lambda d: d.id):
        groups.setdefault(doc.content_hash, []).append(doc)
    return groups


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


def ingest(
    paths: Iterable[Path | str],
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IngestSummary:
    """Add or update the documents found under ``paths`` (files, folders, http(s) links); with
    ``prune``, drop every indexed document not found there. ``progress(done, total, stage)``
    reports embedding progress."""
    from rag.documents import load_sources

    started = time.perf_counter()
    paths = list(paths)
    docs = load_sources(paths, settings)  # all read (and fetched) before the index is touched
    if not docs and not prune:
        raise InputError(
            "no articles found in "
            + ", ".join(map(str, paths))
            + "; supported: .txt .md .html .pdf .docx .jsonl, http(s) links"
        )
    from rag.store import is_postgres

    if is_postgres(settings):
        from rag.store.pg_ingest import ingest_documents

        return ingest_documents(docs, settings, prune, rebuild, progress, started)
    with write_lock(settings.index_dir):
        previous = _load_existing(settings, rebuild)
        current = dict(previous.data.docs) if previous else {}
        texts = dict(previous.data.texts) if previous else {}
        summary, respaced = plan(docs, current, texts, prune)
        if (
            previous
            and not (summary.added or summary.updated or summary.removed)
            and _described(previous.data.docs) == _described(current)
            and _same_layout(previous, settings)
        ):
            summary.documents = len(current)
            summary.chunks = len(previous)
            summary.seconds = time.perf_counter() - started
            return summary
        _commit(current, texts, previous, settings, summary, progress, respaced)
    summary.seconds = time.perf_counter() - started
    return summary


def plan(
    docs: list, current: dict, texts: dict[str, str], prune: bool
) -> tuple[IngestSummary, set[str]]:
    """Apply the documents read (``docs``) to the stored ones (``current``, id -> DocInfo,
    changed in place; ``texts``, hash -> stored text, at least for the hashes of ``docs``).
    Returns what changes and the stored contents whose text is replaced (only spacing
    changed: the cleaning rejoins split decimals), whose chunks are made anew."""
    from rag.index import DocInfo

    summary = IngestSummary()
    seen = set()
    respaced: set[str] = set()
    for h, group in _by_content(docs).items():
        if h in texts and texts[h] not in {d.text for d in group}:
            respaced.add(h)
            texts[h] = group[0].text
    for doc in docs:
        if doc.id in seen:
            raise InputError(f"document id {doc.id!r} appears twice in the input; rename one")
        seen.add(doc.id)
        old = current.get(doc.id)
        if old is None:
            summary.added += 1
        elif old.hash != doc.content_hash or doc.content_hash in respaced:
            summary.updated += 1
        else:
            summary.unchanged += 1
        current[doc.id] = DocInfo(
            id=doc.id,
            title=doc.title,
            hash=doc.content_hash,
            date=doc.date,
            url=doc.url,
            path=_shown_path(doc.path),
        )
        texts.setdefault(doc.content_hash, doc.text)
    if prune:
        for doc_id in [d for d in current if d not in seen]:
            del current[doc_id]
            summary.removed += 1
    return summary, respaced


def _same_layout(previous: Index | None, settings: Settings) -> bool:
    """True when ``settings`` would chunk and index the same way as ``previous`` was built."""
    from rag.index import choose_index_type

    data = previous.data
    kind = choose_index_type(settings.index_type, len(previous), settings.ann_threshold)
    return (data.chunk_size, data.chunk_overlap, data.index_type) == (
        settings.chunk_size,
        settings.chunk_overlap,
        kind,
    )


def _shown_path(path: str | None) -> str | None:
    """``path`` relative to the working folder when inside it, so an index folder committed or
    copied elsewhere does not carry one machine's absolute paths."""
    if not path:
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _described(docs: dict) -> dict[str, tuple]:
    """What the manifest says of each document, less where it was read from."""
    return {k: (d.hash, d.title, d.date, d.url) for k, d in docs.items()}


def remove(ids: Iterable[str], settings: Settings) -> IngestSummary:
    """Drop documents by id. Costs a rebuild of FAISS and BM25 from stored data, no embedding."""
    started = time.perf_counter()
    ids = list(ids)
    from rag.store import is_postgres

    if is_postgres(settings):
        from rag.store.pg_ingest import remove_documents

        return remove_documents(ids, settings, started)
    with write_lock(settings.index_dir):
        previous = _load_existing(settings, rebuild=False)
        if previous is None:
            raise IndexStateError(f"no index at {settings.index_dir}/; nothing to remove")
        unknown = [i for i in ids if i not in previous.data.docs]
        if unknown:
            raise InputError(
                f"no document {', '.join(map(repr, unknown))} in the index; "
                "`rag docs` lists the ids"
            )
        current = {k: v for k, v in previous.data.docs.items() if k not in set(ids)}
        summary = IngestSummary(removed=len(ids))
        _commit(current, dict(previous.data.texts), previous, settings, summary, None)
    summary.seconds = time.perf_counter() - started
    return summary


def _kept_rows(
    previous: Index | None, settings: Settings, wanted: Set[str], respaced: Set[str]
) -> list[int]:
    """Rows of ``previous`` whose content stays as it is (same chunking, hash still wanted)."""
    if previous is None or (previous.data.chunk_size, previous.data.chunk_overlap) != (
        settings.chunk_size,
        settings.chunk_overlap,
    ):
        return []
    return [
        n
        for n, row in enumerate(previous.data.rows)
        if row.hash in wanted and row.hash not in respaced
    ]


def _chunk_rows(
    docs: dict, texts: dict[str, str], hashes: Set[str], settings: Settings
) -> list[ChunkRow]:
    """Chunk rows (with their BM25 tokens) of the contents ``hashes``, in a stable order."""
    from rag.analyzer import get_analyzer
    from rag.chunking import chunk_document
    from rag.documents import Document
    from rag.index import ChunkRow

    analyzer = get_analyzer()
    first_id: dict[str, str] = {}
    for d in sorted(docs.values(), key=lambda d: d.id):
        first_id.setdefault(d.hash, d.id)
    rows: list[ChunkRow] = []
    for h in sorted(hashes):
        doc = Document(id=first_id[h], text=texts[h], title="", date=None, url=None, path=None)
        for i, chunk in enumerate(chunk_document(doc, settings.chunk_size, settings.chunk_overlap)):
            tokens = analyzer.tokens(chunk.text)
            rows.append(ChunkRow(h, i, chunk.start, chunk.end, chunk.text, tokens, chunk.page))
    return rows


def _embed_rows(
    new_rows: list[ChunkRow], previous: Index | None, settings: Settings, progress: Progress | None
) -> tuple[Any, str, int]:
    """The vectors of ``new_rows`` with the embedder's name and dimension. With nothing to
    embed (a removal) the model is not even loaded."""
    import numpy as np

    from rag.embeddings import get_embedder

    if not new_rows and previous is not None:
        dim = previous.data.dim
        return np.zeros((0, dim), "float32"), previous.data.embed_model, dim
    embedder = get_embedder(settings.embed_model)
    total = len(new_rows)
    if progress:
        progress(0, total, "embedding")
    batches = []
    step = max(embedder.batch_size, 64)
    for lo in range(0, total, step):
        batches.append(embedder.embed_passages([r.text for r in new_rows[lo : lo + step]]))
        if progress:
            progress(min(lo + step, total), total, "embedding")
    vectors = np.concatenate(batches) if batches else np.zeros((0, embedder.dim), "float32")
    return vectors, embedder.name, embedder.dim


def _commit(
    docs: dict,
    texts: dict[str, str],
    previous: Index | None,
    settings: Settings,
    summary: IngestSummary,
    progress: Progress | None,
    respaced: Set[str] = frozenset(),
) -> None:
    """Chunk and embed the content that is new (or ``respaced``), keep the rest, and write
    the index."""
    import numpy as np

    from rag.index import IndexData, choose_index_type, write_index

    wanted = {d.hash for d in docs.values()}
    texts = {h: t for h, t in texts.items() if h in wanted}
    keep_rows = _kept_rows(previous, settings, wanted, respaced)
    have = {previous.data.rows[n].hash for n in keep_rows}
    new_rows = _chunk_rows(docs, texts, wanted - have, settings)
    t0 = time.perf_counter()
    new_vecs, embed_name, dim = _embed_rows(new_rows, previous, settings, progress)
    summary.embed_seconds = time.perf_counter() - t0
    kept = np.zeros((0, dim), "float32")
    if keep_rows:
        kept = np.asarray(previous.data.vectors[keep_rows], dtype=np.float32).reshape(-1, dim)
    rows = [previous.data.rows[n] for n in keep_rows] + new_rows
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.hash] = counts.get(r.hash, 0) + 1
    for d in docs.values():
        d.chunks = counts.get(d.hash, 0)
    kind = choose_index_type(settings.index_type, len(rows), settings.ann_threshold)
    if progress:
        progress(len(new_rows), len(new_rows), "indexing")
    data = IndexData(
        embed_model=embed_name,
        dim=dim,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        index_type=kind,
        docs=docs,
        rows=rows,
        texts=texts,
        vectors=np.concatenate([kept, new_vecs]),
    )
    write_index(settings.index_dir, data, previous)
    summary.documents = len(docs)
    summary.chunks = len(rows)
    summary.new_chunks = len(new_rows)
