"""Where the first word's time goes when answering from stored passage states.

For each question, through the real ``ask_stream``: seconds until the passages are known,
until the first word is shown, and inside that the stored states loaded from disk, the
prefill of the prompt after them (labels, closest sentence, question) and every
``llama_decode`` (the prefill's and the generated tokens' held back before the first word).
Run on a warmed index (``rag ingest --warm`` or ``bench_answers.py``), the machine otherwise
idle; it prints llama.cpp's raw rates first so the numbers can be scaled.

    .venv/bin/python benchmarks/bench_first_token.py --index /tmp/idx_facqa \\
        --questions bench/facqa/dev.jsonl --n 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(owner: type, name: str, label: str) -> None:
    """Add the time of every call of ``owner.name`` to ``SPENT[label]``."""
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - started
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def main() -> None:
    """Answer each question until its first word and print where the time went."""
    from bench_answers import raw_rates

    import rag.llm.llama_context as context
    import rag.llm.llama_states as states
    from rag.answer import ask_stream
    from rag.settings import get_settings
    from rag.types import Sources

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--questions", type=Path, default=Path("bench/seeds/dev.jsonl"))
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args()
    settings = get_settings(index_dir=args.index, answer_mode="auto")
    prompt_tps, gen_tps = raw_rates(settings)
    print(f"llama.cpp now: prompt {prompt_tps:.1f} tokens/s, generation {gen_tps:.1f} tokens/s")
    timed(context.SeqContext, "decode", "decode")
    timed(context.SeqContext, "_decode_items", "llama_decode calls")
    timed(states.StatePrefill, "_load_state", "states from disk")
    timed(states.StatePrefill, "_prefill", "prefill")
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    for line in lines[: args.n]:
        question = json.loads(line)["question"]
        SPENT.clear()
        CALLS.clear()
        started = time.perf_counter()
        passages = first = None
        for event in ask_stream(question, **settings.model_dump()):
            if isinstance(event, Sources) and passages is None:
                passages = time.perf_counter() - started
            if isinstance(event, str) and event:
                first = time.perf_counter() - started
                break
        parts = ", ".join(f"{k} {v:.2f} s x{CALLS[k]}" for k, v in SPENT.items())
        print(f"passages {passages or 0:.2f} s, first word {first or 0:.2f} s | {parts}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
