"""Hybrid retrieval: dense and BM25 rankings of a store (``rag.store``: the index folder or
PostgreSQL) fused into the top k passages."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings
from rag.types import Hit

if TYPE_CHECKING:
    from rag.store.base import Store, StoredChunk
    from rag.store.folder.index import Index


class Retriever:
    """Dense + BM25 search over one loaded index."""

    def __init__(self, index, embedder, analyzer) -> None:  # noqa: ANN001 - lazy types
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer

    def search(
        self,
        query: str,
        k: int = 5,
        candidates: int = 30,
        fusion: str = "weighted",
        mode: str = "hybrid",
        pool: int = 10,
    ) -> list[Hit]:
        """The top ``k`` passages for ``query``; ``mode`` is hybrid, dense or bm25.

        In hybrid mode the passage holding the single sentence that best matches the query
        (rare words count more) among the top ``pool`` takes the last of the ``k`` places if
        fusion left it out: a passage-level score can bury a one-sentence answer under
        passages that merely share the article's topic."""
        store = self.index
        if not query.strip() or len(store) == 0:
            return []
        n = min(max(candidates, k), len(store))
        qvec = self.embedder.embed_queries([query])[0]
        terms = self.analyzer.tokens(query)
        with store.snapshot():
            dense = store.dense_top(qvec, n)
            bm25 = store.lexical_top(terms, n)
            if mode == "dense":
                fused = list(dense)
            elif mode == "bm25":
                fused = bm25
            elif fusion == "rrf":
                fused = rrf([dense, bm25])
            else:
                fused = weighted([dense, bm25], [0.5, 0.5])
            top = fused[:k]
            if mode == "hybrid" and pool > k and len(fused) > k:
                best = self.best_sentence_rank([row for row, _ in fused[:pool]], query)
                if best >= k:
                    top = fused[: k - 1] + [fused[best]]
            rows = [row for row, _ in top]
            lexical = dict(bm25)
            missing = [row for row in rows if row not in lexical]
            if missing:
                lexical.update(store.lexical_scores(terms, missing))
            chunks = store.chunks(rows, qvec)
        return [_hit(chunk, score, lexical[chunk.row]) for chunk, (_, score) in zip(chunks, top)]

    def term_weights(self, terms: list[str]) -> dict[str, float]:
        """Inverse document frequency of each of ``terms`` in this index (rare terms weigh
        more; a term no chunk holds weighs most)."""
        import math

        n = len(self.index)
        df = self.index.document_frequencies(sorted(set(terms)))
        return {t: math.log(1 + n / (1 + df[t])) for t in df}

    def best_sentence_rank(self, rows: list[int], query: str) -> int:
        """The position in ``rows`` of the chunk holding the sentence that best matches
        ``query`` (``rag.evidence``, IDF-weighted; the earlier chunk wins a tie)."""
        from rag.evidence import best_sentence

        asked = self.analyzer.tokens(query)
        if not asked or not rows:
            return 0
        texts = [chunk.text for chunk in self.index.chunks(rows)]
        best = best_sentence(asked, texts, self.term_weights(asked))
        return best.passage if best and best.score > 0 else 0


def _hit(chunk: StoredChunk, score: float, bm25: float) -> Hit:
    doc = chunk.doc
    return Hit(
        chunk_id=chunk.chunk_id,
        doc_id=doc.id,
        text=chunk.text,
        start=chunk.start,
        end=chunk.end,
        score=score,
        title=doc.title,
        url=doc.url,
        date=doc.date,
        dense_score=chunk.dense,
        bm25_score=bm25,
        page=chunk.meta.get("page"),
    )


def rrf(rankings: list[list[tuple[int, float]]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked (row, score) lists."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking):
            scores[row] = scores.get(row, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda x: -x[1])


def weighted(
    rankings: list[list[tuple[int, float]]], weights: list[float]
) -> list[tuple[int, float]]:
    """Weighted sum of min-max normalised scores (a row missing from a list scores 0 there)."""
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        if not ranking:
            continue
        values = [s for _, s in ranking]
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        for row, s in ranking:
            scores[row] = scores.get(row, 0.0) + w * (s - lo) / span
    return sorted(scores.items(), key=lambda x: -x[1])


_indexes: dict[str, tuple[object, str, Index]] = {}
_retrievers: dict[str, Retriever] = {}
_pg_stores: dict[tuple[str, str, int], Store] = {}
_cache_lock = threading.Lock()


def get_index(settings: Settings) -> Index | Store:
    """The store of ``settings``: the PostgreSQL store at ``settings.store``, or the index at
    ``settings.index_dir``, loaded once per process and reloaded when it changes on disk (an
    ingest from another session or process). Loading it does not load the
    embedding model: listing documents needs none."""
    from rag.embeddings import canonical_name
    from rag.store import is_postgres
    from rag.store.folder.index import Index, manifest_stamp

    if is_postgres(settings):
        return _postgres_store(settings)
    path = Path(settings.index_dir).resolve()
    stamp = manifest_stamp(path)
    model = canonical_name(settings.embed_model)
    with _cache_lock:
        cached = _indexes.get(str(path))
        if cached and cached[0] == stamp and cached[1] == model:
            return cached[2]
        index = Index.load(path, settings.embed_model)
        _indexes[str(path)] = (stamp, model, index)  # the stamp seen before it was read
        return index


def _postgres_store(settings: Settings) -> Store:
    """The PostgreSQL store of ``settings``, opened once per process: it is read live, so a
    document another process writes is found on the next search without reloading."""
    from rag.embeddings import canonical_name
    from rag.store.postgres import PostgresStore

    key = (str(settings.store), canonical_name(settings.embed_model), settings.pg_ef_search)
    with _cache_lock:
        store = _pg_stores.get(key)
        if store is None:
            store = PostgresStore.open(key[0], settings.embed_model, settings.pg_ef_search)
            _pg_stores[key] = store
        return store


def get_retriever(settings: Settings) -> Retriever:
    """The retriever over :func:`get_index`'s index (one cache: the index is held once)."""
    from rag.analyzer import get_analyzer
    from rag.embeddings import canonical_name, get_embedder
    from rag.store import store_key

    index = get_index(settings)
    key = store_key(settings)
    model = canonical_name(settings.embed_model)
    with _cache_lock:
        cached = _retrievers.get(key)
        if cached and cached.index is index and cached.embedder.name == model:
            return cached
        retriever = Retriever(index, get_embedder(settings.embed_model), get_analyzer())
        _retrievers[key] = retriever
        return retriever


def search(query: str, settings: Settings, k: int | None = None) -> list[Hit]:
    """Hybrid search of the index in ``settings`` for ``query``."""
    return get_retriever(settings).search(
        query,
        k=k or settings.k,
        candidates=settings.candidates,
        fusion=settings.fusion,
        pool=settings.sentence_pool,
    )
