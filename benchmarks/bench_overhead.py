"""Pipeline overhead: ``ask()`` against llama.cpp answering the very same prompt directly.

For each question of a set, ``rag.ask_stream`` answers it (retrieval, prompt, generation,
citation checks), then a second, separate ``llama_cpp.Llama`` with the same file and settings
answers the exact messages the pipeline sent, with the same sampling settings. Both model
instances see the same sequence of prompts, so llama.cpp's prefix reuse helps both equally; the
order alternates between questions. Prints first-token and total time side by side and the
pipeline's overhead in percent (median of per-question differences over the raw time).

    .venv/bin/python benchmarks/bench_overhead.py [--index index] [--questions FILE]
        [--mode full|auto] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer import Answer, Sources, ask_stream, relevant_enough, select_passages  # noqa: E402
from rag.llm import get_llm  # noqa: E402
from rag.models import resolve_model  # noqa: E402
from rag.prompt import build_prompt, detect_language  # noqa: E402
from rag.settings import get_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_pipeline(question: str, overrides: dict[str, Any]) -> tuple[Answer, list[Any]]:
    """Answer through ``ask_stream``; the final Answer and the passages given to the model."""
    hits: list[Any] = []
    answer: Answer | None = None
    for event in ask_stream(question, **overrides):
        if isinstance(event, Sources):
            hits = event.hits
        elif isinstance(event, Answer):
            answer = event
    assert answer is not None
    return answer, hits


def passages(question: str, settings: Any) -> list[Any]:
    """The passages ``ask_stream`` gives the model, or none when it refuses without them."""
    hits = select_passages(question, settings, get_llm(settings).count_tokens)
    return hits if relevant_enough(question, hits, settings) else []


def run_raw(llama: Any, messages: list[dict[str, str]], max_tokens: int, temperature: float):
    """Stream the same messages straight from llama.cpp: (first token s, total s, tokens)."""
    started = time.perf_counter()
    first, tokens = 0.0, 0
    for chunk in llama.create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=temperature, stream=True
    ):
        text = (chunk["choices"][0].get("delta") or {}).get("content")
        if text:
            if tokens == 0:
                first = time.perf_counter() - started
            tokens += 1
    return first, time.perf_counter() - started, tokens


def pct(a: float, b: float) -> str:
    return f"{100 * (a - b) / b:+.1f}%" if b else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--questions", type=Path, default=ROOT / "bench/seeds/dev.jsonl")
    parser.add_argument("--mode", default="full", choices=["full", "auto", "cached"])
    parser.add_argument("--repeat", type=int, default=1, help="passes over the question set")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    from llama_cpp import Llama

    overrides: dict[str, Any] = {"index_dir": args.index, "answer_mode": args.mode}
    settings = get_settings(**overrides)
    questions = [json.loads(line) for line in args.questions.open() if line.strip()]
    questions = questions[: args.limit] if args.limit else questions
    path = resolve_model(settings, progress=False)
    get_llm(settings)  # load before timing
    raw = Llama(
        model_path=str(path),
        n_ctx=settings.n_ctx,
        n_batch=settings.n_batch,
        n_ubatch=settings.n_batch,
        n_threads=settings.n_threads,
        n_threads_batch=settings.n_threads,
        seed=0,
        verbose=False,
    )
    raw.eval([max(raw.token_bos(), 0)])
    raw.reset()
    print(
        f"model {path.name}, threads {settings.n_threads}, k {settings.k}, "
        f"pipeline mode {args.mode}, {len(questions)} questions x {args.repeat}"
    )
    rows: list[dict[str, float]] = []
    for rep in range(args.repeat):
        for i, q in enumerate(questions):
            question = q["question"].strip()
            pipeline_first = (rep + i) % 2 == 0
            hits = passages(question, settings)
            if not hits:
                print(f"  {q['id']:10} no passage passes the threshold; skipped", flush=True)
                continue
            messages = build_prompt(
                question, hits, detect_language(question), key_count=settings.key_sentences
            ).messages()
            if pipeline_first:
                answer, _ = run_pipeline(question, overrides)
            r_first, r_total, r_tokens = run_raw(
                raw, messages, settings.max_tokens, settings.temperature
            )
            if not pipeline_first:
                answer, _ = run_pipeline(question, overrides)
            row = {
                "p_first": answer.first_token_s,
                "p_total": answer.total_s,
                "p_tokens": answer.tokens,
                "r_first": r_first,
                "r_total": r_total,
                "r_tokens": r_tokens,
            }
            rows.append(row)
            print(
                f"  {q['id']:10} first {answer.first_token_s:6.2f} s vs {r_first:6.2f} s   "
                f"total {answer.total_s:6.2f} s vs {r_total:6.2f} s   "
                f"tokens {answer.tokens} vs {r_tokens}",
                flush=True,
            )
    if not rows:
        print("no question reached the model")
        return 1

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    same = [r for r in rows if r["p_tokens"] == r["r_tokens"]]
    over = [(r["p_total"] - r["r_total"]) / r["r_total"] for r in same if r["r_total"]]
    print(f"\n{'':24}{'pipeline':>12}{'llama.cpp':>12}{'overhead':>12}")
    for label, key in (("first token p50 s", "first"), ("total p50 s", "total")):
        p, r = med(f"p_{key}"), med(f"r_{key}")
        print(f"{label:24}{p:12.2f}{r:12.2f}{pct(p, r):>12}")
    print(f"{'tokens p50':24}{med('p_tokens'):12.0f}{med('r_tokens'):12.0f}")
    if over:
        print(
            f"overhead on total time, {len(same)} answers with equal token counts: median "
            f"{100 * statistics.median(over):+.1f}%, mean {100 * statistics.mean(over):+.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
