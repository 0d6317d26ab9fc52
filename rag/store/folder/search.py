"""The index folder's read side: search over the data :class:`rag.store.folder.index.Index`
loaded. Vectors are searched with FAISS, BM25 with bm25s, both in memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rag.errors import IndexStateError
from rag.store.base import FORMAT_VERSION, Store, StoredChunk, StoreInfo, chunk_meta

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    import numpy as np

    from rag.store.base import DocInfo, IndexData


class FolderStore(Store):
    """Search over an index folder loaded in memory (``data``, ``faiss``, ``bm25``)."""

    path: Path
    data: IndexData
    faiss: Any
    bm25: Any
    _ids_by_hash: dict[str, list[str]]

    @property
    def embed_model(self) -> str:
        """Name of the embedder the vectors came from."""
        return self.data.embed_model

    def describe(self) -> StoreInfo:
        """Embedder, chunking and format version from the manifest."""
        d = self.data
        return StoreInfo(
            "folder", str(self.path), d.embed_model, d.dim, d.chunk_size, d.chunk_overlap,
            FORMAT_VERSION,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.data.rows)

    def documents(self) -> list[DocInfo]:
        """The indexed documents, sorted by id."""
        return sorted(self.data.docs.values(), key=lambda d: d.id)

    def document_text(self, doc_id: str) -> str:
        """The cleaned text of ``doc_id``; chunk and citation offsets point into it."""
        doc = self.data.docs.get(doc_id)
        if doc is None:
            raise IndexStateError(f"no document {doc_id!r} in the index; see `rag ingest`")
        return self.data.texts[doc.hash]

    def doc_for_row(self, row: int) -> DocInfo:
        """The (first by id) document holding chunk ``row``."""
        return self.data.docs[self._ids_by_hash[self.data.rows[row].hash][0]]

    def same_content(self, doc_id: str) -> list[str]:
        """The ids of every document stored as the same text as ``doc_id`` (itself included):
        a passage found under one of them is a passage of each."""
        doc = self.data.docs.get(doc_id)
        return list(self._ids_by_hash[doc.hash]) if doc else [doc_id]

    def chunk_id(self, row: int) -> str:
        """A readable chunk id: ``{doc_id}#{n}``."""
        return f"{self.doc_for_row(row).id}#{self.data.rows[row].i}"

    def dense_search(self, vectors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` rows by cosine similarity for each query vector: (scores, rows)."""
        n = min(n, len(self))
        if n == 0:
            import numpy as np

            return np.zeros((len(vectors), 0), "float32"), np.zeros((len(vectors), 0), "int64")
        return self.faiss.search(vectors, n)

    def dense_top(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The ``n`` nearest rows (FAISS): (row, cosine), best first."""
        scores, rows = self.dense_search(vector.reshape(1, -1), n)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every row for the query ``tokens`` (the last query's are kept)."""
        import numpy as np

        key = tuple(tokens)
        last = getattr(self, "_last_bm25", None)
        if last is not None and last[0] == key:
            return last[1]
        ids = self.bm25.get_tokens_ids(tokens)
        if not ids or not len(self):
            scores = np.zeros(len(self), dtype="float32")
        else:
            scores = self.bm25.get_scores_from_ids(ids)
        self._last_bm25 = (key, scores)
        return scores

    def lexical_top(self, tokens: list[str], n: int) -> list[tuple[int, float]]:
        """The ``n`` best rows by BM25 (bm25s), scores above zero, best first."""
        import numpy as np

        scores = self.bm25_scores(tokens)
        n = min(n, len(scores))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(n)
        return sorted(
            ((int(r), float(scores[r])) for r in top if scores[r] > 0), key=lambda x: -x[1]
        )

    def lexical_scores(self, tokens: list[str], rows: Sequence[int]) -> dict[int, float]:
        """BM25 score of each of ``rows``."""
        scores = self.bm25_scores(tokens)
        return {int(r): float(scores[r]) for r in rows}

    def document_frequencies(self, tokens: list[str]) -> dict[str, int]:
        """How many rows contain each of ``tokens`` (0 for a token the index never saw)."""
        vocab = self.bm25.vocab_dict
        indptr = self.bm25.scores["indptr"]
        return {
            t: int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0 for t in tokens
        }

    def chunks(self, rows: Sequence[int], vector: np.ndarray | None = None) -> list[StoredChunk]:
        """The chunks at ``rows``; with ``vector``, each with its cosine similarity to it."""
        import numpy as np

        out = []
        for row in rows:
            rec = self.data.rows[row]
            dense = None
            if vector is not None:
                dense = float(np.asarray(self.data.vectors[row], dtype=np.float32) @ vector)
            out.append(
                StoredChunk(
                    row=int(row),
                    chunk_id=self.chunk_id(row),
                    doc=self.doc_for_row(row),
                    text=rec.text,
                    start=rec.start,
                    end=rec.end,
                    dense=dense,
                    meta=chunk_meta(rec),
                )
            )
        return out

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk, in row order."""
        for row in range(len(self)):
            yield from self.chunks([row])

    def export(self) -> IndexData:
        """The loaded data itself (vectors memory-mapped)."""
        return self.data
