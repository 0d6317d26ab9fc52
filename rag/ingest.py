"""Incremental ingest above every store: documents -> chunks -> embeddings -> a write plan that
the store applies atomically (:class:`rag.store.base.StoreWriter`).

Documents are planned by content hash (unchanged, changed, removed): unchanged documents cost
nothing, a changed document is replaced, identical content under two ids is embedded once, and
removing documents never re-embeds anything (the stores keep the vectors).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexStateError, InputError
from rag.settings import Settings
from rag.store import open_writer
from rag.store.base import WritePlan
from rag.store.folder.writer import write_lock  # noqa: F401 - its former home, still imported

if TYPE_CHECKING:
    from rag.store.base import ChunkRow, DocInfo, StoreInfo, StoreWriter

Progress = Callable[[int, int, str], None]


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
    instructing: list[str] = field(default_factory=list)  # ids of documents read that instruct

    @property
    def chunks_per_s(self) -> float:
        """New chunks embedded and indexed per second of the whole run."""
        return self.new_chunks / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """A one-line human summary."""
        line = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed; {self.documents} documents, {self.chunks} chunks "
            f"({self.new_chunks} new) in {self.seconds:.1f} s, "
            f"{self.chunks_per_s:.1f} chunks/s"
        )
        if self.instructing:
            few = ", ".join(self.instructing[:3]) + (", ..." if len(self.instructing) > 3 else "")
            line += (
                f"; {len(self.instructing)} carry sentences that instruct the assistant ({few}):"
                " kept, shown in the sources, never used as evidence"
            )
        return line


def _by_content(docs: list) -> dict[str, list]:
    """Documents grouped by content hash, each group sorted by id."""
    groups: dict[str, list] = {}
    for doc in sorted(docs, key=lambda d: d.id):
        groups.setdefault(doc.content_hash, []).append(doc)
    return groups


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
    with open_writer(settings, rebuild) as writer:
        before = writer.documents()
        current = dict(before)
        texts = writer.texts({d.content_hash for d in docs})
        summary, respaced = plan(docs, current, texts, prune)
        if (
            writer.same_layout()
            and not (summary.added or summary.updated or summary.removed)
            and _described(before) == _described(current)
        ):
            summary.documents, summary.chunks = len(current), writer.chunk_count()
        else:
            wanted = {d.hash for d in current.values()}
            fresh = (wanted - writer.reusable(wanted)) | (respaced & wanted)
            _write(writer, current, texts, fresh, settings, summary, progress)
    summary.seconds = time.perf_counter() - started
    return summary


def plan(
    docs: list, current: dict, texts: dict[str, str], prune: bool
) -> tuple[IngestSummary, set[str]]:
    """Apply the documents read (``docs``) to the stored ones (``current``, id -> DocInfo,
    changed in place; ``texts``, hash -> stored text, at least for the hashes of ``docs``).
    Returns what changes and the stored contents whose text is replaced (only spacing
    changed: the cleaning rejoins split decimals), whose chunks are made anew."""
    from rag.instructions import instructions_of
    from rag.store.base import DocInfo

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
        instructions = len(instructions_of(doc.title, doc.text))
        if instructions:
            summary.instructing.append(doc.id)
        current[doc.id] = DocInfo(
            id=doc.id,
            title=doc.title,
            hash=doc.content_hash,
            date=doc.date,
            url=doc.url,
            path=_shown_path(doc.path),
            instructions=instructions,
        )
        texts.setdefault(doc.content_hash, doc.text)
    if prune:
        for doc_id in [d for d in current if d not in seen]:
            del current[doc_id]
            summary.removed += 1
    return summary, respaced


def _shown_path(path: str | None) -> str | None:
    """``path`` relative to the working folder when inside it, so an index folder committed or
    copied elsewhere does not carry one machine's absolute paths."""
    if not path:
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _described(docs: dict) -> dict[str, tuple]:
    """What the manifest says of each document, less where it was read from."""
    return {k: (d.hash, d.title, d.date, d.url, d.instructions) for k, d in docs.items()}


def remove(ids: Iterable[str], settings: Settings) -> IngestSummary:
    """Drop documents by id. The store keeps the chunks and vectors of the rest as they are
    (the folder rebuilds FAISS and BM25 from them): nothing is chunked or embedded."""
    import numpy as np

    started = time.perf_counter()
    ids = list(ids)
    with open_writer(settings) as writer:
        info = writer.info()
        if info is None:
            raise IndexStateError(f"{writer.describe_empty()}; nothing to remove")
        stored = writer.documents()
        unknown = [i for i in ids if i not in stored]
        if unknown:
            raise InputError(
                f"no document {', '.join(map(repr, unknown))} in the index; "
                "`rag docs` lists the ids"
            )
        gone = set(ids)
        docs = {k: v for k, v in stored.items() if k not in gone}
        nothing = np.zeros((0, info.dim), "float32")  # the store's chunking is kept
        writer.apply(
            WritePlan(
                docs=docs,
                fresh=set(),
                texts={},
                rows=[],
                vectors=nothing,
                embed_model=info.embed_model,
                dim=info.dim,
                chunk_size=info.chunk_size,
                chunk_overlap=info.chunk_overlap,
            )
        )
        summary = IngestSummary(removed=len(ids), documents=len(docs))
        summary.chunks = writer.chunk_count()
    summary.seconds = time.perf_counter() - started
    return summary


def _write(
    writer: StoreWriter,
    docs: dict[str, DocInfo],
    texts: dict[str, str],
    fresh: Set[str],
    settings: Settings,
    summary: IngestSummary,
    progress: Progress | None,
) -> None:
    """Chunk and embed the ``fresh`` contents, and hand the plan to ``writer``: ``docs`` are
    the documents the store holds afterwards; ``texts`` holds at least the new texts."""
    missing = fresh - set(texts)
    if missing:  # chunking changed: documents not given this time are chunked anew too
        texts.update(writer.texts(missing))
    new_rows = _chunk_rows(docs, texts, fresh, settings)
    t0 = time.perf_counter()
    vectors, embed_name, dim = _embed_rows(new_rows, writer.info(), settings, progress)
    summary.embed_seconds = time.perf_counter() - t0
    if progress:
        progress(len(new_rows), len(new_rows), "indexing")
    plan = WritePlan(
        docs=docs,
        fresh=fresh,
        texts={h: texts[h] for h in fresh},
        rows=new_rows,
        vectors=vectors,
        embed_model=embed_name,
        dim=dim,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )
    writer.apply(plan)
    summary.documents = len(docs)
    summary.chunks = writer.chunk_count()
    summary.new_chunks = len(new_rows)


def _chunk_rows(
    docs: dict, texts: dict[str, str], hashes: Set[str], settings: Settings
) -> list[ChunkRow]:
    """Chunk rows (with their BM25 tokens) of the contents ``hashes``, in a stable order."""
    from rag.analyzer import get_analyzer
    from rag.chunking import chunk_document
    from rag.documents import Document
    from rag.store.base import ChunkRow

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
    new_rows: list[ChunkRow],
    stored: StoreInfo | None,
    settings: Settings,
    progress: Progress | None,
) -> tuple[Any, str, int]:
    """The vectors of ``new_rows`` with the embedder's name and dimension. With nothing to
    embed in a store that holds an index (``stored``) the model is not even loaded."""
    import numpy as np

    from rag.embeddings import get_embedder

    if not new_rows and stored is not None:
        return np.zeros((0, stored.dim), "float32"), stored.embed_model, stored.dim
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
