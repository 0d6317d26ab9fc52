"""Scale benchmark: approximate FAISS indexes of rag.store.folder.index against exact search.

Synthetic, clustered, normalised vectors stand in for chunk embeddings: a Gaussian mixture in a
low-dimensional latent space mapped linearly into ``--dim`` dimensions plus a little isotropic
noise, so neighbours are meaningful (as with real embeddings) and an ANN index has work to do.
Queries come from the same distribution but are not in the collection.

For each index kind built by ``rag.store.folder.index.build_faiss`` (flat = ground truth, ivf,
hnsw) it prints build time, memory (RSS growth and serialised size), single-query search latency
p50/p95 and recall@10 against exact search, for a sweep of nprobe / efSearch values. Nothing is
asserted.

    .venv/bin/python benchmarks/bench_scale.py              # 1,000,000 vectors (10-20 min)
    .venv/bin/python benchmarks/bench_scale.py --n 100000   # quick
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.store.folder.index import build_faiss  # noqa: E402


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Mixture:
    """A Gaussian mixture in ``latent`` dimensions, projected into ``dim`` and normalised.

    ``spread`` is the within-cluster standard deviation relative to the spread of the centres
    (near 1, clusters overlap and neighbours cross cluster borders); ``noise`` is isotropic noise
    in the full space, relative to the projected signal.
    """

    def __init__(
        self, dim: int, clusters: int, latent: int, spread: float, noise: float, seed: int
    ) -> None:
        rng = np.random.default_rng(seed)
        self.centres = rng.normal(size=(clusters, latent)).astype(np.float32)
        self.projection = (rng.normal(size=(latent, dim)) / np.sqrt(dim)).astype(np.float32)
        self.spread = spread
        # Projected signal has about latent * (1 + spread^2) / dim variance per coordinate.
        self.noise = noise * float(np.sqrt(latent * (1 + spread**2) / dim))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` normalised float32 draws."""
        latent, dim = self.projection.shape
        which = rng.integers(0, len(self.centres), size=n)
        z = self.centres[which] + self.spread * rng.normal(size=(n, latent)).astype(np.float32)
        x = z @ self.projection + self.noise * rng.normal(size=(n, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)

    def vectors(self, n: int, seed: int, block: int = 100_000) -> np.ndarray:
        """``n`` draws, generated in blocks to bound the temporary memory."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.projection.shape[1]), dtype=np.float32)
        for lo in range(0, n, block):
            out[lo : lo + block] = self.sample(rng, min(block, n - lo))
        return out


def index_bytes(index: Any) -> int:
    """Size of ``index`` once serialised (what ``faiss.index`` on disk would weigh)."""
    return int(faiss.serialize_index(index).nbytes)


def single_query_latency(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """Search one query at a time, as a user's search does; (rows, per-query ms)."""
    rows = np.empty((len(queries), k), dtype=np.int64)
    times = []
    index.search(queries[:1], k)  # warm caches
    for i in range(len(queries)):
        t0 = time.perf_counter()
        _, found = index.search(queries[i : i + 1], k)
        times.append((time.perf_counter() - t0) * 1000)
        rows[i] = found[0]
    return rows, times


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top ``k`` that the approximate search returned."""
    return float(
        np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)])
    )


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    return float(np.quantile(np.asarray(values), q))


def build(kind: str, vectors: np.ndarray) -> tuple[Any, dict[str, float]]:
    """Build one kind through rag.store.folder.index.build_faiss and measure it."""
    gc.collect()
    before = rss_mb()
    t0 = time.perf_counter()
    index = build_faiss(vectors, kind)
    seconds = time.perf_counter() - t0
    stats = {
        "build_s": round(seconds, 1),
        "rss_delta_mb": round(rss_mb() - before, 1),
        "size_mb": round(index_bytes(index) / 2**20, 1),
    }
    print(
        f"{kind:5s} built in {stats['build_s']:.1f} s; RSS +{stats['rss_delta_mb']:.0f} MiB; "
        f"serialised {stats['size_mb']:.0f} MiB",
        flush=True,
    )
    return index, stats


def measure(
    label: str, index: Any, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, float]:
    """Latency and recall of ``index`` with its current search parameters."""
    found, times = single_query_latency(index, queries, k)
    row = {
        "p50_ms": round(pct(times, 0.5), 3),
        "p95_ms": round(pct(times, 0.95), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "recall_at_10": round(recall_at(found, truth, k), 4),
    }
    print(
        f"  {label:22s} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  "
        f"recall@{k} {row['recall_at_10']:.4f}",
        flush=True,
    )
    return row


def main() -> None:
    """Parse arguments, build, search and print."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="collection size")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=2000, help="mixture components")
    ap.add_argument("--latent", type=int, default=64, help="intrinsic dimension of the mixture")
    ap.add_argument("--spread", type=float, default=1.0, help="within-cluster std / centre std")
    ap.add_argument("--noise", type=float, default=0.3, help="full-space noise / signal")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--kinds", default="ivf,hnsw", help="comma-separated: ivf, hnsw")
    ap.add_argument("--nprobe", default="", help="extra IVF nprobe values to try, e.g. 32,64")
    ap.add_argument("--ef", default="", help="extra HNSW efSearch values to try, e.g. 64,128")
    ap.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0: default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    print(
        f"n={args.n:,} dim={args.dim} clusters={args.clusters} latent={args.latent} "
        f"spread={args.spread} noise={args.noise} "
        f"queries={args.queries} k={args.k} faiss={faiss.__version__} "
        f"threads={faiss.omp_get_max_threads()}",
        flush=True,
    )
    t0 = time.perf_counter()
    mixture = Mixture(args.dim, args.clusters, args.latent, args.spread, args.noise, args.seed)
    vectors = mixture.vectors(args.n, args.seed + 1)
    queries = mixture.sample(np.random.default_rng(args.seed + 2), args.queries)
    print(f"generated {vectors.nbytes / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s")

    results: dict[str, Any] = {"n": args.n, "dim": args.dim, "kinds": {}}
    flat, stats = build("flat", vectors)
    t0 = time.perf_counter()
    _, truth = flat.search(queries, args.k)
    print(f"  exact ground truth for {args.queries} queries in {time.perf_counter() - t0:.1f} s")
    stats["search"] = {"exact": measure("exact", flat, queries[:20], truth[:20], args.k)}
    results["kinds"]["flat"] = stats
    del flat
    gc.collect()

    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        index, stats = build(kind, vectors)
        stats["search"] = {}
        if kind == "ivf":
            default = index.nprobe
            stats["nlist"] = index.nlist
            values = sorted({default, *(int(v) for v in args.nprobe.split(",") if v)})
            for v in values:
                index.nprobe = v
                tag = f"nprobe={v}" + (" (default)" if v == default else "")
                stats["search"][f"nprobe={v}"] = measure(tag, index, queries, truth, args.k)
        elif kind == "hnsw":
            default = index.hnsw.efSearch
            values = sorted({default, *(int(v) for v in args.ef.split(",") if v)})
            for v in values:
                index.hnsw.efSearch = v
                tag = f"efSearch={v}" + (" (default)" if v == default else "")
                stats["search"][f"efSearch={v}"] = measure(tag, index, queries, truth, args.k)
        results["kinds"][kind] = stats
        del index
        gc.collect()

    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
