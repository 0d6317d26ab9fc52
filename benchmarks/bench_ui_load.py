"""Load on the web app: N simulated people (gradio_client, one thread and one session each) ask
questions through the chat endpoint of one server on 127.0.0.1 for a fixed time.

Prints answers completed, errors (must be 0; a mixed-up session counts as an error) and the
latency from pressing Enter to the passages showing and to the finished answer (p50/p95/max).
Stops by itself: no new question after ``--duration`` seconds, a cap of ``--max-questions``,
and a hard deadline for the answers still running.

    .venv/bin/python benchmarks/bench_ui_load.py                 # real pipeline, 0.5B model
    .venv/bin/python benchmarks/bench_ui_load.py --fake          # UI and queue overhead only
    .venv/bin/python benchmarks/bench_ui_load.py --model qwen2.5-coder-1.5b --index index
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "Negara apa saja yang menjadi anggota Aliansi Pasifik?",
    "Di hotel mana Simposium Nasional Migration Governance for Sustainable Development diadakan?",
    "Siapa yang mewakili INFID dalam penandatanganan kerja sama dengan Komnas Perempuan?",
    "Negara mana saja yang mengikuti program Colombo Plan tentang industri kecil dan menengah?",
    "Apa tujuan evaluasi model Industri Rumahan oleh Kemen PPPA?",
    "Kapan Indonesia menjadi negara pengamat Aliansi Pasifik?",
]


def fake_ask(
    question: str, history: list[dict[str, str]] | None = None, **overrides: Any
) -> Iterator[Any]:
    """Real retrieval, a fixed-pace stand-in for generation (UI and queue overhead only)."""
    from tests.fakes import quoting_ask

    yield from quoting_ask(read_s=0.5, piece=8, delay=0.01)(question, history, **overrides)


def rss_mb() -> float:
    """This process's resident memory in MB (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    """Run the load and print the numbers; exit status 1 when any question failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of new questions")
    parser.add_argument("--max-questions", type=int, default=500)
    parser.add_argument("--grace", type=float, default=600.0, help="max wait for running answers")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--index", type=Path, help="existing index (default: seeds/ in a tmp dir)")
    parser.add_argument("--fake", action="store_true", help="scripted generation, real retrieval")
    parser.add_argument("--concurrency", type=int, default=1, help="answers running at once")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which users arrive")
    args = parser.parse_args()

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client

    from rag.ingest import ingest
    from rag.settings import get_settings
    from ui.app import build_app, serve

    tmp = tempfile.TemporaryDirectory(prefix="bench_ui_")
    index = args.index or Path(tmp.name) / "index"
    settings = get_settings(index_dir=index, model=args.model)
    if args.index is None:
        print(f"indexing seeds/ into {index} ...", flush=True)
        ingest([ROOT / "seeds"], settings)
    demo = build_app(
        settings, ask_fn=fake_ask if args.fake else None, chat_concurrency=args.concurrency
    )
    url = serve(demo, "127.0.0.1", None, prevent_thread_lock=True, quiet=True)
    mode = "scripted generation" if args.fake else f"model {args.model}"
    print(f"server {url}; {args.users} users for {args.duration:.0f} s; {mode}", flush=True)

    # Warm up (model and embedder load) so the first user does not pay for it.
    Client(url, verbose=False).predict(QUESTIONS[0], api_name="/ask")
    rss_before = rss_mb()

    lock = threading.Lock()
    issued = 0
    total_s: list[float] = []
    busy: list[str] = []  # questions told the server is busy (queue full), asked again later
    ranks: list[int] = []  # the highest queue place each question was shown, when it waited
    sources_s: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    stop_new = start + args.duration
    hard_stop = stop_new + args.grace

    def take_slot() -> bool:
        nonlocal issued
        with lock:
            if issued >= args.max_questions or time.monotonic() >= stop_new:
                return False
            issued += 1
            return True

    def user(u: int) -> None:
        time.sleep(u * args.ramp / max(1, args.users))  # people arrive over a few seconds
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - counted, printed below
            with lock:
                errors.append(f"user {u}: connect: {exc}")
            return
        asked: list[str] = []
        while take_slot():
            question = QUESTIONS[(u + len(asked)) % len(QUESTIONS)]
            asked.append(question)
            t0 = time.monotonic()
            first_sources: float | None = None
            rank: int | None = None
            try:
                job = client.submit(question, api_name="/chat")
                while not job.done():
                    status = job.status()
                    if getattr(status.code, "name", "") == "IN_QUEUE" and status.rank is not None:
                        rank = max(rank or 0, int(status.rank) + 1)
                    if first_sources is None and any(
                        isinstance(o[1], str) and "rag-src-" in o[1] for o in job.outputs()
                    ):
                        first_sources = time.monotonic() - t0
                    if time.monotonic() > hard_stop:
                        job.cancel()
                        raise TimeoutError("no answer before the hard deadline")
                    time.sleep(0.2)
                if not job.outputs():  # refused before it started: the queue was full
                    why = str(job.exception() or "no output")
                    if "full" not in why.lower() and "busy" not in why.lower():
                        raise RuntimeError(f"no answer: {why[:160]}")
                    with lock:
                        busy.append(why[:80])
                    asked.pop()  # not in the chat: the person tries again a little later
                    time.sleep(5)
                    continue
                chat = job.outputs()[-1][0]
                elapsed = time.monotonic() - t0
                users_said = [p["text"] for m in chat if m["role"] == "user" for p in m["content"]]
                last = [p["text"] for p in chat[-1]["content"]][-1]
                if (
                    len(users_said) != len(asked)
                    or question.split("?")[0][:40] not in (users_said[-1])
                ):
                    raise RuntimeError("the chat shows another session's questions")
                if "rag-error" in last or not ("rag-answer" in last or "rag-refusal" in last):
                    raise RuntimeError(f"no answer: {last[:160]}")
                if first_sources is None:
                    first_sources = elapsed
                with lock:
                    total_s.append(elapsed)
                    sources_s.append(first_sources)
                    if rank:
                        ranks.append(rank)
            except Exception as exc:  # noqa: BLE001 - counted, printed below
                with lock:
                    errors.append(f"user {u}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(args.users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(1.0, hard_stop + 30 - time.monotonic()))
    wall = time.monotonic() - start
    rss_after = rss_mb()
    demo.close()
    tmp.cleanup()

    print(f"questions asked:    {issued}")
    print(
        f"answers completed:  {len(total_s)} in {wall:.1f} s "
        f"({len(total_s) / wall * 60:.1f} per minute)"
    )
    print(f"errors:             {len(errors)}")
    print(f"told busy, retried: {len(busy)}{f' ({busy[0]})' if busy else ''}")
    print(
        f"told their queue place: {len(ranks)} of {len(total_s)} answers waited in the queue "
        f"and were shown their place (highest {max(ranks, default=0)})"
    )
    print(
        f"resident memory (server and clients): {rss_before:.0f} MB after warm-up, "
        f"{rss_after:.0f} MB at the end ({rss_after - rss_before:+.0f} MB)"
    )
    for e in errors[:10]:
        print(f"  {e}")
    for name, values in (("passages shown", sources_s), ("answer finished", total_s)):
        if values:
            print(
                f"{name + ' (s)':<20}p50 {statistics.median(values):6.1f}   "
                f"p95 {pct(values, 95):6.1f}   max {max(values):6.1f}"
            )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
