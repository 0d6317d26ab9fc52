"""What the sentence screen costs at warm time: the seeds' passages warmed with and without it,
side by side (states kept in memory and a new screen record each round, so nothing is reused
between runs).

With the screen, each passage is decoded with every token's row of the wanted layers copied
out (``HiddenCapture.armed(every_row=True)``) and the probe is applied per sentence; a flagged
passage is decoded a second time without its flagged sentences.

At answer time the screen only marks the retrieved passages from its record
(``rag.generate.screen_hits``): ``--answers`` times that step alone on the seeds' dev questions.

    .venv/bin/python benchmarks/bench_screen_cost.py [--rounds 2] [--limit 45] [--answers]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=45)
    parser.add_argument("--answers", action="store_true", help="time the answer-time step only")
    args = parser.parse_args()
    if args.answers:
        answer_time()
        return

    import tempfile
    from dataclasses import replace

    from rag.generate import index_passages
    from rag.llm import get_llm
    from rag.llm.llama_states import StatePrefill
    from rag.screen import screen_for
    from rag.screen.record import ScreenRecord
    from rag.settings import get_settings

    settings = get_settings(index_dir=ROOT / "index")
    passages = index_passages(ROOT / "index", settings.embed_model)[: args.limit]
    llm = get_llm(settings)
    screen = screen_for(llm, settings)
    if screen is None:
        sys.exit("no sentence probe for this model: nothing to compare")
    times: dict[str, list[float]] = {"without": [], "with": []}
    flagged = 0
    scratch = Path(tempfile.mkdtemp())
    for n in range(args.rounds):
        fresh = replace(screen, record=ScreenRecord(scratch / f"round{n}.json"))  # reads all
        for name, which in (("without", None), ("with", fresh)):
            prefill = StatePrefill(llm, None, screen=which)
            started = time.perf_counter()
            prefill.warm(passages)
            times[name].append(time.perf_counter() - started)
            flagged = prefill.stats.screened if which is not None else flagged
            prefill.close()
    best = {k: min(v) for k, v in times.items()}
    print(f"{len(passages)} passages, {args.rounds} rounds (best of each):")
    print(f"  without the screen: {best['without']:.1f} s")
    print(f"  with the screen:    {best['with']:.1f} s ({flagged} sentences left out)")
    print(f"  ratio: {best['with'] / best['without']:.3f}")


def answer_time() -> None:
    """The answer-time cost: ``screen_hits`` on each seeds dev question's passages."""
    import statistics

    from rag.answer import select_passages
    from rag.eval import load_questions
    from rag.generate import screen_hits
    from rag.llm import get_llm
    from rag.settings import get_settings

    settings = get_settings(index_dir=ROOT / "index")
    llm = get_llm(settings)
    took = []
    for q in load_questions(ROOT / "bench" / "seeds" / "dev.jsonl"):
        hits = select_passages(q["question"], settings, llm.count_tokens)
        screen_hits(llm, settings, hits)  # the first call loads the probe and the record
        started = time.perf_counter()
        for _ in range(20):
            screen_hits(llm, settings, hits)
        took.append((time.perf_counter() - started) / 20)
    print(
        f"screen_hits per question ({len(took)} seeds dev questions, 20 calls each): "
        f"p50 {statistics.median(took) * 1000:.2f} ms, max {max(took) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
