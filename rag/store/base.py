"""The store interface: everything ingest and retrieval need from an index, whatever holds it.

Two implementations: the index folder (:mod:`rag.store.folder`, the default) and PostgreSQL with
pgvector (:mod:`rag.store.postgres`). Retrieval, fusion, the best-sentence rescue and answering
(``rag.retrieve``, ``rag.answer``) call only the methods below, so they run the same code over
either. A chunk is addressed by an integer ``row`` that is stable within one snapshot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

BM25_K1, BM25_B = 1.2, 0.75  # bm25s' defaults; both stores rank with them
PG_SCHEMES = ("postgresql://", "postgres://")  # a store location that is a database

if TYPE_CHECKING:
    import numpy as np

    from rag.index import DocInfo, IndexData


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
