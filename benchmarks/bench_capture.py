"""What reading the model's hidden state costs: the same prompts answered by the same model
file loaded twice, once with the eval callback that captures the probe's layers and once with
no callback, alternating question by question (a noisy machine slows both alike). Prints, per
answer mode, the model's first token p50 and generation tokens/s of each, and their ratio.

    .venv/bin/python benchmarks/bench_capture.py --questions bench/seeds/dev.jsonl --index index
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval import load_questions  # noqa: E402
from rag.settings import get_settings  # noqa: E402


def timed(llm, settings, prompt, mode: str, tokens: int) -> tuple[float, float]:  # noqa: ANN001
    """(seconds to the first piece, generated tokens/s after it) of one answer."""
    from rag.generate import answer_stream

    started = time.perf_counter()
    first, n = 0.0, 0
    stream = answer_stream(llm, settings.merged(max_tokens=tokens), prompt, mode=mode)
    for _ in stream:
        n += 1
        if n == 1:
            first = time.perf_counter() - started
    rest = time.perf_counter() - started - first
    return first, (n - 1) / rest if n > 1 and rest > 0 else 0.0


def main() -> None:
    from rag.answer import prepare
    from rag.gate import gate_for
    from rag.generate import state_prefill
    from rag.llm import LlamaCppLLM, get_llm
    from rag.llm.hidden import LOGITS, layer_name
    from rag.models import resolve_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=Path("bench/seeds/dev.jsonl"))
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--modes", default="auto,full")
    parser.add_argument("--tokens", type=int, default=24, help="tokens generated per answer")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = get_settings(index_dir=args.index)
    with_cb = get_llm(settings)
    gate = gate_for(with_cb, settings)
    layers = gate.probe.layers if gate.probe else (18, 22)
    with_cb.read_hidden([layer_name(n) for n in layers] + [LOGITS])
    path = resolve_model(settings)
    without = LlamaCppLLM(
        path,
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        capture=False,
    )
    prompts = []
    for q in load_questions(args.questions):
        plan = prepare(q["question"], None, settings, with_cb)
        if plan.prompt is not None:
            prompts.append(plan.prompt)
    for llm in (with_cb, without):  # stored states for both (untimed)
        state_prefill(llm, settings).warm([h for p in prompts for h in p.hits])
    print(f"{len(prompts)} prompts, layers {layers}, {args.tokens} tokens each")
    for mode in args.modes.split(","):
        results: dict[str, list[tuple[float, float]]] = {"capture": [], "none": []}
        for rnd in range(args.rounds):
            for i, prompt in enumerate(prompts):
                order = [("capture", with_cb), ("none", without)]
                if (i + rnd) % 2:
                    order.reverse()
                for name, llm in order:
                    results[name].append(timed(llm, settings, prompt, mode, args.tokens))
        first = {k: statistics.median(f for f, _ in v) for k, v in results.items()}
        gen = {k: statistics.median(g for _, g in v) for k, v in results.items()}
        print(
            f"{mode:5}: first token p50 capture {first['capture']:.3f} s, none "
            f"{first['none']:.3f} s (ratio {first['capture'] / first['none']:.3f}); generation "
            f"capture {gen['capture']:.2f}, none {gen['none']:.2f} tokens/s "
            f"(ratio {gen['capture'] / max(gen['none'], 1e-9):.3f})"
        )
    print(
        f"readings: capture {with_cb.reading() is not None}, none {without.reading() is not None}"
    )


if __name__ == "__main__":
    main()
