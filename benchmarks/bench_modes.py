"""Answer modes side by side: ``full`` prefill against ``cached`` passage states (rag.kvcache).

Runs question sets (seeds, and the first 60 FacQA dev questions) through the same retrieval and
prompt as ``rag.answer.ask_stream`` and answers each question in every mode, one after the
other, so a noisy machine slows all modes alike. Prints per set and mode: answer accuracy,
citation precision, refusal recall, first-token p50/p95 (from the start of the model call;
retrieval is the same for every mode and excluded), generation tokens/s, fresh prompt tokens,
and for the cached modes the state build time, tokens and bytes per passage.

Passage states are built (``warm``) just before a question's timed answers, so the cached
first-token numbers are those of a warmed cache; the build cost is reported separately.

    .venv/bin/python benchmarks/bench_modes.py \\
        --set seeds=/tmp/kv_idx:bench/seeds/dev.jsonl \\
        --set facqa=/tmp/kv_facqa_idx:bench/facqa/dev.jsonl:60 \\
        --modes full,cached [--model qwen2.5-coder-1.5b] [--threads 2] [--json out.json]

Modes: ``full``; ``cached`` (labels fresh, "(title) text" from the state); ``cached-title``
(title read fresh with the label); ``cached-last`` (passages in reverse order, most relevant
nearest the question, renumbered); ``cached-top`` (the top passage read fresh in place);
``cached-q8`` (q8_0 states); ``cached-rank`` (one state per passage and label ``[n]``, so
the passage sees its label; only the question and template tail are read); ``cached-ctx``
(states computed after ``--state-context``, a placeholder label dropped from the state).
``cached-desc`` (passages in reverse order but keeping their numbers: [3] [2] [1]);
``full-last`` (full prefill, passages in reverse order, renumbered). ``auto`` equals
``cached`` once states are warmed, so it is not a column here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval import _percentile, answer_correct, from_source, load_questions  # noqa: E402
from rag.kvcache import CachedPrefillLLM, PassageCache  # noqa: E402
from rag.llm import LlamaCppLLM  # noqa: E402
from rag.models import resolve_model  # noqa: E402
from rag.settings import Settings, get_settings  # noqa: E402

CACHED_MODES = (
    "cached",
    "cached-rank",
    "cached-title",
    "cached-last",
    "cached-top",
    "cached-q8",
    "cached-ctx",
    "cached-desc",
)


@dataclass
class Case:
    """A question with its passages and prompt, shared by every mode."""

    q: dict[str, Any]
    hits: list[Any]
    language: str
    messages: list[dict[str, str]]
    index: Any = None


@dataclass
class Result:
    raw: str = ""
    first_s: float = 0.0
    total_s: float = 0.0
    tokens: int = 0
    refused: bool = False
    correct: bool = False
    cited: int = 0
    cited_ok: int = 0
    fresh_tokens: int = 0
    skipped_model: bool = False


@dataclass
class BuildStats:
    passages: int = 0
    seconds: float = 0.0
    tokens: int = 0
    bytes: int = 0


@dataclass
class Column:
    results: list[tuple[Case, Result]] = field(default_factory=list)
    build: BuildStats = field(default_factory=BuildStats)


def prepare(q: dict[str, Any], settings: Settings, count_tokens: Any) -> Case:
    """Retrieval and prompt exactly as ``rag.answer.ask_stream`` does them."""
    from rag.answer import select_passages
    from rag.prompt import build_messages, detect_language
    from rag.retrieve import get_retriever

    question = q["question"].strip()
    language = detect_language(question)
    hits = select_passages(question, settings, count_tokens)
    messages = build_messages(question, hits, language, key_count=settings.key_sentences)
    return Case(q, hits, language, messages, get_retriever(settings).index)


def judge(case: Case, res: Result, hits: list[Any]) -> None:
    """Refusal, correctness and citations, with ``rag.answer``'s rules (``citations.judge``)."""
    from rag.citations import judge as judge_reply

    if res.skipped_model:
        res.refused = True
        return
    checked, res.refused = judge_reply(res.raw, hits, case.q["question"])
    if not res.refused:
        res.cited = len(checked.citations)
        res.cited_ok = sum(from_source(case.index, c.doc_id, case.q) for c in checked.citations)
        res.correct = case.q["match"] != "refuse" and answer_correct(case.q, checked.text)


def timed(stream: Any, started: float) -> Result:
    res = Result()
    try:
        for piece in stream:
            if res.tokens == 0:
                res.first_s = time.perf_counter() - started
            res.tokens += 1
            res.raw += piece
    finally:
        stream.close()
    res.total_s = time.perf_counter() - started
    return res


def run_mode(
    mode: str,
    case: Case,
    llm: LlamaCppLLM,
    kvs: dict[str, CachedPrefillLLM],
    settings: Settings,
    column: Column,
) -> Result:
    from rag.kvcache import split_prompt
    from rag.prompt import build_messages

    hits = case.hits
    if not hits:
        res = Result(skipped_model=True)
        judge(case, res, hits)
        return res
    kw = {"max_tokens": settings.max_tokens, "temperature": settings.temperature}
    if mode in ("full", "full-last"):
        messages = case.messages
        if mode == "full-last":
            hits = list(reversed(hits))
            messages = build_messages(
                case.q["question"].strip(), hits, case.language, key_count=settings.key_sentences
            )
        started = time.perf_counter()
        res = timed(llm.stream(messages, **kw), started)
        judge(case, res, hits)
        return res
    kv = kvs.get(mode, kvs.get("cached"))
    messages = case.messages
    if mode == "cached-last":
        hits = list(reversed(hits))
        messages = build_messages(
            case.q["question"].strip(), hits, case.language, key_count=settings.key_sentences
        )
    parts = split_prompt(messages, hits)
    assert parts is not None, "build_messages changed shape"
    labels, bodies = parts.labels, parts.bodies
    if mode == "cached-desc":
        labels, bodies = labels[::-1], bodies[::-1]
    if mode == "cached-title":
        labels = [f"[{n}]" + (f" ({h.title})" if h.title else "") for n, h in enumerate(hits, 1)]
        bodies = [f" {h.text}" for h in hits]
        assert [lab + b for lab, b in zip(labels, bodies)] == [
            lab + b for lab, b in zip(parts.labels, parts.bodies)
        ]
    before = (kv.stats.built, kv.stats.build_s, kv.stats.build_tokens, kv.stats.state_bytes)
    kv.warm(bodies, system=parts.system, labels=labels)
    b = column.build
    b.passages += kv.stats.built - before[0]
    b.seconds += kv.stats.build_s - before[1]
    b.tokens += kv.stats.build_tokens - before[2]
    b.bytes += kv.stats.state_bytes - before[3]
    fresh = [0] if mode == "cached-top" else []
    started = time.perf_counter()
    stream = kv.stream_passages(
        parts.system,
        bodies,
        parts.tail,
        labels=labels,
        fresh=fresh,
        **kw,
    )
    res = timed(stream, started)
    res.fresh_tokens = kv.stats.last_prompt_tokens
    judge(case, res, hits)
    return res


def set_threads(models: list[Any], n: int) -> None:
    """Set prompt and generation threads of every llama.cpp context in ``models``."""
    import llama_cpp

    for model in models:
        ctx = model._llama._ctx.ctx if isinstance(model, LlamaCppLLM) else model._ctx.ctx
        llama_cpp.llama_set_n_threads(ctx, n, n)


def summarise(column: Column) -> dict[str, Any]:
    rs = [r for _, r in column.results]
    cases = [c for c, _ in column.results]
    answerable = [r for c, r in column.results if c.q["match"] != "refuse"]
    refuse = [r for c, r in column.results if c.q["match"] == "refuse"]
    ran = [r for r in rs if not r.skipped_model]
    firsts = [r.first_s for r in ran if r.tokens]
    tps = [
        (r.tokens - 1) / (r.total_s - r.first_s)
        for r in ran
        if r.tokens > 1 and r.total_s > r.first_s
    ]
    cited = sum(r.cited for r in rs)
    b = column.build
    return {
        "questions": len(cases),
        "right": sum(r.correct for r in answerable),
        "answerable": len(answerable),
        "accuracy": round(sum(r.correct for r in answerable) / len(answerable), 4)
        if answerable
        else None,
        "citation_precision": round(sum(r.cited_ok for r in rs) / cited, 4) if cited else None,
        "refusal_recall": round(sum(r.refused for r in refuse) / len(refuse), 4)
        if refuse
        else None,
        "false_refusals": sum(r.refused for r in answerable),
        "first_token_p50_s": round(_percentile(firsts, 0.5), 2),
        "first_token_p95_s": round(_percentile(firsts, 0.95), 2),
        "first_token_max_s": round(max(firsts), 2) if firsts else 0.0,
        "tokens_per_s": round(statistics.median(tps), 2) if tps else 0.0,
        "fresh_prompt_tokens_avg": round(statistics.fmean(r.fresh_tokens for r in ran), 1)
        if ran
        else 0.0,
        "states_built": b.passages,
        "build_s_per_passage": round(b.seconds / b.passages, 2) if b.passages else None,
        "tokens_per_passage": round(b.tokens / b.passages, 1) if b.passages else None,
        "bytes_per_passage": int(b.bytes / b.passages) if b.passages else None,
    }


def print_table(name: str, summaries: dict[str, dict[str, Any]]) -> None:
    modes = list(summaries)
    rows = [
        ("accuracy", lambda s: f"{s['right']}/{s['answerable']} ({s['accuracy']})"),
        ("citation precision", lambda s: str(s["citation_precision"])),
        ("refusal recall", lambda s: str(s["refusal_recall"])),
        ("false refusals", lambda s: str(s["false_refusals"])),
        ("first token p50 s", lambda s: str(s["first_token_p50_s"])),
        ("first token p95 s", lambda s: str(s["first_token_p95_s"])),
        ("first token max s", lambda s: str(s["first_token_max_s"])),
        ("gen tokens/s", lambda s: str(s["tokens_per_s"])),
        ("fresh prompt tokens", lambda s: str(s["fresh_prompt_tokens_avg"])),
        ("states built", lambda s: str(s["states_built"])),
        ("build s/passage", lambda s: str(s["build_s_per_passage"])),
        ("tokens/passage", lambda s: str(s["tokens_per_passage"])),
        ("bytes/passage", lambda s: str(s["bytes_per_passage"])),
    ]
    width = max(14, *(len(m) + 2 for m in modes))
    print(f"\n== {name} ({summaries[modes[0]]['questions']} questions)")
    print(f"{'':22}" + "".join(f"{m:>{width}}" for m in modes))
    for label, fmt in rows:
        print(f"{label:22}" + "".join(f"{fmt(summaries[m]):>{width}}" for m in modes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=INDEX:QUESTIONS[:LIMIT]",
        help="a question set and the index to answer it from (repeatable)",
    )
    parser.add_argument("--modes", default="full,cached")
    parser.add_argument("--model", default=None, help="RAG_MODEL (default: settings)")
    parser.add_argument("--threads", type=int, default=None, help="n_threads (both phases)")
    parser.add_argument("--n-batch", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temp dir")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--threads-sweep",
        default="",
        metavar="N,M",
        help="answer every question at each thread count (prompt and generation), interleaved",
    )
    parser.add_argument(
        "--state-context",
        default="[n]",
        help="text read before each passage while computing its state (mode cached-ctx)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)
    sets = args.set or [
        f"seeds=/tmp/kv_idx:{Path(__file__).resolve().parents[1] / 'bench/seeds/dev.jsonl'}",
    ]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ("full", "full-last") and m not in CACHED_MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose full or {', '.join(CACHED_MODES)}")

    overrides: dict[str, Any] = {}
    if args.model:
        overrides["model"] = args.model
    if args.threads:
        overrides["n_threads"] = args.threads
    if args.n_batch:
        overrides["n_batch"] = args.n_batch
    base = get_settings(**overrides)
    path = resolve_model(base, progress=False)
    t0 = time.perf_counter()
    llm = LlamaCppLLM(path, n_ctx=base.n_ctx, n_threads=base.n_threads, n_batch=base.n_batch)
    load_s = time.perf_counter() - t0
    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="bench_kv_"))
    budget = 50 * 1024**3
    kvs: dict[str, CachedPrefillLLM] = {}
    if any(m in CACHED_MODES for m in modes):
        kvs["cached"] = CachedPrefillLLM(llm, PassageCache(cache_dir / "f16", budget))
    if "cached-q8" in modes:
        kvs["cached-q8"] = CachedPrefillLLM(
            llm, PassageCache(cache_dir / "q8", budget), kv_type="q8_0"
        )
    if "cached-rank" in modes:
        kvs["cached-rank"] = CachedPrefillLLM(
            llm, PassageCache(cache_dir / "f16", budget), label_in_state=True
        )
    if "cached-ctx" in modes:
        kvs["cached-ctx"] = CachedPrefillLLM(
            llm, PassageCache(cache_dir / "f16", budget), state_context=args.state_context
        )
    print(
        f"model {path.name} loaded in {load_s:.1f}s; threads {base.n_threads}, "
        f"n_batch {base.n_batch}, k {base.k}; states in {cache_dir}",
        flush=True,
    )
    print("NOTE: other jobs share this machine's CPU; compare modes within one run.", flush=True)

    report: dict[str, Any] = {
        "model": path.name,
        "threads": base.n_threads,
        "sets": {},
        "answers": [],
    }
    for spec in sets:
        name, _, rest = spec.partition("=")
        pieces = rest.split(":")
        index_dir, qpath = Path(pieces[0]), Path(pieces[1])
        limit = int(pieces[2]) if len(pieces) > 2 else None
        settings = base.merged(index_dir=index_dir)
        questions = load_questions(qpath, limit)
        sweep = [int(t) for t in args.threads_sweep.split(",")] if args.threads_sweep else []
        columns = {col: Column() for m in modes for col in ([f"{m}@t{t}" for t in sweep] or [m])}
        for q in questions:
            case = prepare(q, settings, llm.count_tokens)
            line = [q["id"]]
            for col in columns:
                mode, _, threads = col.partition("@t")
                if threads:
                    set_threads([llm, *kvs.values()], int(threads))
                res = run_mode(mode, case, llm, kvs, settings, columns[col])
                columns[col].results.append((case, res))
                ok = res.refused if q["match"] == "refuse" else res.correct
                line.append(f"{col}={'OK' if ok else 'bad'} {res.first_s:.1f}s")
                report["answers"].append(
                    {
                        "set": name,
                        "id": q["id"],
                        "mode": col,
                        "ok": bool(ok),
                        "refused": res.refused,
                        "first_token_s": round(res.first_s, 3),
                        "answer": res.raw,
                    }
                )
                if args.verbose:
                    print(f"   {col:13} {res.raw[:160]!r}", flush=True)
            print("  " + "  ".join(line), flush=True)
        summaries = {m: summarise(c) for m, c in columns.items()}
        print_table(name, summaries)
        report["sets"][name] = summaries
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
