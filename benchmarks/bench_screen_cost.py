"""What the sentence screen costs at warm time: the seeds' passages warmed with and without it,
side by side (states kept in memory and a new screen record each round, so nothing is reused
between runs).

With the screen, each passage is decoded with every token's row of the wanted layers copied
out (``HiddenCapture.armed(every_row=True)``) and the probe is applied per sentence; a flagged
passage is decoded a second time without its flagged sentences.

    .venv/bin/python benchmarks/bench_screen_cost.py [--rounds 2] [--limit 45]
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
