"""The store seam: the rows an index holds and the two interfaces every backend implements.

:class:`Store` is the read side: retrieval, fusion, the best-sentence rescue and answering
(``rag.retrieve``, ``rag.answer``) call only its methods, so they run the same code over any
backend. :class:`StoreWriter` is the write side: ingest (``rag.ingest``) plans a change by content
hash, chunks and embeds what is new, and hands a :class:`WritePlan` to it, which the backend
applies atomically under its own lock. Backends: the index folder (:mod:`rag.store.folder`, the
default) and PostgreSQL with pgvector (:mod:`rag.store.postgres`), chosen by :mod:`rag.store`.
A chunk is addressed by an integer ``row`` that is stable within one snapshot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

BM25_K1, BM25_B = 1.2, 0.75  # bm25s' defaults; both stores rank with them
PG_SCHEMES = ("postgresql://", "postgres://")  # a store location that is a database
FORMAT_VERSION = 1  # of the index folder's files (PostgreSQL versions its schema itself)
CORE_CHUNK_FIELDS = frozenset({"hash", "i", "start", "end", "text", "tokens"})

if TYPE_CHECKING:
    import numpy as np


@dataclass
class DocInfo:
    """A document as the index knows it."""

    id: str
    title: str
    hash: str
    chunks: int = 0
    date: str | None = None
    url: str | None = None
    path: str | None = None
    # Sentences of its title and text that instruct the assistant (rag.text.instruction_sentences):
    # kept and shown, never given to the model as evidence.
    instructions: int = 0


@dataclass
class ChunkRow:
    """One stored chunk. ``start``/``end`` are offsets in its document's cleaned text."""

    hash: str
    i: int
    start: int
    end: int
    text: str
    tokens: list[str] = field(default_factory=list)
    page: int | None = None  # the page (from 1) of a paged document (a PDF), else None


@dataclass
class IndexData:
    """Everything an index holds, in memory, ready to be written."""

    embed_model: str
    dim: int
    chunk_size: int
    chunk_overlap: int
    index_type: str
    docs: dict[str, DocInfo]
    rows: list[ChunkRow]
    texts: dict[str, str]
    vectors: np.ndarray


def chunk_meta(row: ChunkRow) -> dict[str, Any]:
    """The fields of ``row`` beyond text, offsets and tokens that are set (a page number, ...):
    stores keep them as they are."""
    return {
        f.name: value
        for f in fields(row)
        if f.name not in CORE_CHUNK_FIELDS and (value := getattr(row, f.name)) is not None
    }


@dataclass
class StoredChunk:
    """One chunk as retrieval sees it: its text and offsets, the (first by id) document that
    holds it, and, when a query vector was given, its cosine similarity to it."""

    row: int
    chunk_id: str
    doc: DocInfo
    text: str
    start: int
    end: int
    dense: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreInfo:
    """What a store says of itself: it must match the settings it is searched with."""

    kind: str
    location: str
    embed_model: str
    dim: int
    chunk_size: int
    chunk_overlap: int
    format_version: int


class Store(ABC):
    """A read view of an index: documents, chunks, vectors, lexical tokens and metadata."""

    @property
    @abstractmethod
    def embed_model(self) -> str:
        """Name of the embedder the vectors came from."""

    @abstractmethod
    def describe(self) -> StoreInfo:
        """The store's self-description (embedder, chunking, format version)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of stored chunks."""

    @abstractmethod
    def documents(self) -> list[DocInfo]:
        """The stored documents, sorted by id."""

    @abstractmethod
    def document_text(self, doc_id: str) -> str:
        """The cleaned text of ``doc_id`` (chunk and citation offsets point into it); raises
        IndexStateError when it is not stored."""

    @abstractmethod
    def same_content(self, doc_id: str) -> list[str]:
        """The ids of every document stored as the same text as ``doc_id`` (itself included)."""

    @abstractmethod
    def dense_top(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The ``n`` rows closest to the normalised query ``vector``: (row, cosine), best
        first."""

    @abstractmethod
    def lexical_top(self, tokens: list[str], n: int) -> list[tuple[int, float]]:
        """The ``n`` rows of highest BM25 score for the analysed query ``tokens``, scores above
        zero only, best first."""

    @abstractmethod
    def lexical_scores(self, tokens: list[str], rows: Sequence[int]) -> dict[int, float]:
        """The BM25 score of each of ``rows`` for ``tokens`` (0 for a row holding none)."""

    @abstractmethod
    def document_frequencies(self, tokens: list[str]) -> dict[str, int]:
        """How many rows contain each of ``tokens`` (0 for a token no row holds)."""

    @abstractmethod
    def chunks(self, rows: Sequence[int], vector: np.ndarray | None = None) -> list[StoredChunk]:
        """The chunks at ``rows``, in that order; with a query ``vector``, each with its cosine
        similarity to it."""

    @abstractmethod
    def export(self) -> IndexData:
        """Everything stored, in memory (for ``rag store copy``): no embedding needed."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Within the block, every read sees one state of the store (a writer that commits
        meanwhile is not seen half-way). The folder store is immutable once loaded."""
        yield

    @abstractmethod
    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk, in row order (for warming passage states)."""


@dataclass
class WritePlan:
    """One ingest or removal, ready to write: the documents the store holds afterwards and the
    contents whose chunks are made anew (``fresh``: new, or their text re-spaced, or every one
    when the chunking changed) with those chunks and their vectors. Every other content keeps
    its stored chunks and vectors; a content no document has any more goes with them."""

    docs: dict[str, DocInfo]  # every document after the write (the writer sets chunk counts)
    fresh: Set[str]
    texts: dict[str, str]  # hash -> text of each fresh content
    rows: list[ChunkRow]  # the chunks of the fresh contents
    vectors: np.ndarray  # row-aligned with ``rows``
    embed_model: str
    dim: int
    chunk_size: int
    chunk_overlap: int


class StoreWriter(ABC):
    """The write side of a store, open while its backend holds the store's write lock
    (``open_writer`` of :mod:`rag.store`): read what a plan needs, then :meth:`apply` it. Readers
    see the state before or after the write, never half of it."""

    @abstractmethod
    def info(self) -> StoreInfo | None:
        """What the store holds now (embedder, chunking); None while it holds no index."""

    @abstractmethod
    def describe_empty(self) -> str:
        """How to say the store holds no index (for errors: "no index at index/")."""

    @abstractmethod
    def documents(self) -> dict[str, DocInfo]:
        """The stored documents by id (a new dict; a plan may change it)."""

    @abstractmethod
    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        """The stored texts of those of ``hashes`` the store holds."""

    @abstractmethod
    def chunk_count(self) -> int:
        """Stored chunks (after :meth:`apply`, the new count)."""

    @abstractmethod
    def same_layout(self) -> bool:
        """Whether the settings the writer was opened with chunk and index as the store was
        built (so documents that did not change need no write at all); False while empty."""

    @abstractmethod
    def reusable(self, hashes: Set[str]) -> set[str]:
        """Those of the contents ``hashes`` whose stored chunks were made with the settings'
        chunking (none when it changed): they need no chunking nor embedding."""

    @abstractmethod
    def apply(self, plan: WritePlan) -> None:
        """Write ``plan``: add, replace and remove documents with their chunks, vectors and
        lexical tokens, all at once."""
