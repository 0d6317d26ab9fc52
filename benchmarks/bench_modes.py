"""Answer modes side by side: full prefill against stored passage states (cached, auto).

Every answer goes through ``rag.generate.answer_stream``, as in ``rag.answer``.

Runs question sets (seeds, and the first 60 FacQA dev questions) through the same retrieval and
prompt as ``rag.answer.ask_stream`` and answers each question in every mode, one after the
other, so a noisy machine slows all modes alike. Prints per set and mode: answer accuracy,
citation precision, refusal recall, first-token p50/p95 (from the start of the model call;
retrieval is the same for every mode and excluded), generation tokens/s, fresh prompt tokens,
and for the state modes the state build time, tokens and bytes per passage.

For ``cached`` the question's passage states are built (warmed) just before its timed answer, so
its first-token numbers are those of a warmed cache; the build cost is reported separately.
``auto`` uses the states stored so far (by an earlier ``cached`` column, an earlier run with the
same ``--cache-dir``, or none) and reads the other passages in place.

    .venv/bin/python benchmarks/bench_modes.py \\
        --set seeds=/tmp/kv_idx:bench/seeds/dev.jsonl \\
        --set facqa=/tmp/kv_facqa_idx:bench/facqa/dev.jsonl:60 \\
        --modes full,cached [--model qwen2.5-coder-1.5b] [--threads 2] [--json out.json]

Layouts tried before and rejected (labels inside the states, titles read fresh, passages
reversed, the top passage read fresh, q8_0 states, states after a placeholder label) are
recorded with their numbers in benchmarks/README.md; the code for them is gone.
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
from rag.generate import MODES, answer_stream, state_prefill  # noqa: E402
from rag.llm import LlamaCppLLM  # noqa: E402
from rag.models import resolve_model  # noqa: E402
from rag.settings import Settings, get_settings  # noqa: E402


@dataclass
class Case:
    """A question with its passages and prompt, shared by every mode."""

    q: dict[str, Any]
    hits: list[Any]
    prompt: Any
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
    from rag.prompt import build_prompt, detect_language
    from rag.retrieve import get_retriever

    question = q["question"].strip()
    hits = select_passages(question, settings, count_tokens)
    prompt = build_prompt(
        question, hits, detect_language(question), key_count=settings.key_sentences
    )
    return Case(q, hits, prompt, get_retriever(settings).index)


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


def run_mode(mode: str, case: Case, llm: LlamaCppLLM, settings: Settings, column: Column) -> Result:
    """Answer ``case`` in ``mode`` (warming its passage states first for ``cached``)."""
    if not case.hits:
        res = Result(skipped_model=True)
        judge(case, res, case.hits)
        return res
    prefill = state_prefill(llm, settings) if mode != "full" else None
    if prefill is not None and mode == "cached":
        stats = prefill.stats
        before = (stats.built, stats.build_s, stats.build_tokens, stats.state_bytes)
        prefill.warm(case.prompt.hits, system=case.prompt.system)
        b = column.build
        b.passages += stats.built - before[0]
        b.seconds += stats.build_s - before[1]
        b.tokens += stats.build_tokens - before[2]
        b.bytes += stats.state_bytes - before[3]
    started = time.perf_counter()
    res = timed(answer_stream(llm, settings, case.prompt, mode=mode), started)
    if prefill is not None:
        res.fresh_tokens = prefill.stats.last_prompt_tokens
    judge(case, res, case.hits)
    return res


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=INDEX:QUESTIONS[:LIMIT]",
        help="a question set and the index to answer it from (repeatable)",
    )
    parser.add_argument("--modes", default="full,cached", help=f"from {', '.join(MODES)}")
    parser.add_argument("--model", default=None, help="RAG_MODEL (default: settings)")
    parser.add_argument("--threads", type=int, default=None, help="n_threads (both phases)")
    parser.add_argument("--n-batch", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temp dir")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)
    args.set = args.set or [
        f"seeds=/tmp/kv_idx:{Path(__file__).resolve().parents[1] / 'bench/seeds/dev.jsonl'}",
    ]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    return args


def run_set(
    spec: str,
    modes: list[str],
    llm: LlamaCppLLM,
    base: Settings,
    report: dict[str, Any],
    verbose: bool,
) -> None:
    """Answer the set ``NAME=INDEX:QUESTIONS[:LIMIT]`` in every mode; print its table."""
    name, _, rest = spec.partition("=")
    pieces = rest.split(":")
    limit = int(pieces[2]) if len(pieces) > 2 else None
    settings = base.merged(index_dir=Path(pieces[0]))
    columns = {mode: Column() for mode in modes}
    for q in load_questions(Path(pieces[1]), limit):
        case = prepare(q, settings, llm.count_tokens)
        line = [q["id"]]
        for mode, column in columns.items():
            res = run_mode(mode, case, llm, settings, column)
            column.results.append((case, res))
            ok = res.refused if q["match"] == "refuse" else res.correct
            line.append(f"{mode}={'OK' if ok else 'bad'} {res.first_s:.1f}s")
            report["answers"].append(
                {
                    "set": name,
                    "id": q["id"],
                    "mode": mode,
                    "ok": bool(ok),
                    "refused": res.refused,
                    "first_token_s": round(res.first_s, 3),
                    "answer": res.raw,
                }
            )
            if verbose:
                print(f"   {mode:13} {res.raw[:160]!r}", flush=True)
        print("  " + "  ".join(line), flush=True)
    summaries = {m: summarise(c) for m, c in columns.items()}
    print_table(name, summaries)
    report["sets"][name] = summaries


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="bench_kv_"))
    overrides: dict[str, Any] = {
        "model": args.model,
        "n_threads": args.threads,
        "n_batch": args.n_batch,
        "kv_cache_dir": cache_dir / "f16",
        "kv_cache_bytes": 50 * 1024**3,
    }
    base = get_settings(**{k: v for k, v in overrides.items() if v})
    path = resolve_model(base, progress=False)
    t0 = time.perf_counter()
    llm = LlamaCppLLM(path, n_ctx=base.n_ctx, n_threads=base.n_threads, n_batch=base.n_batch)
    print(
        f"model {path.name} loaded in {time.perf_counter() - t0:.1f}s; threads "
        f"{base.n_threads}, n_batch {base.n_batch}, k {base.k}; states in {cache_dir}",
        flush=True,
    )
    print("NOTE: other jobs share this machine's CPU; compare modes within one run.", flush=True)
    report: dict[str, Any] = {"model": path.name, "threads": base.n_threads, "sets": {}}
    report["answers"] = []
    for spec in args.set:
        run_set(spec, args.modes, llm, base, report, args.verbose)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
