"""What the stream showed of answers that were then refused or replaced, replayed from the
model replies a ``bench_answers.py --json`` run stored (no model runs).

Each stored reply is fed, word by word (a word with its leading space, about one or two
tokens), through the stream's own checks (``StreamGuard.visible``), once as the stream is
now and once without the rule that opens the stream only when the reply adds something to
the question (``StreamGuard`` with that rule off: the check before it). Prints, per set:
replies the final check refused after the stream had shown words of them (shown, then taken
back), those never shown, and for the answers that stand, the word at which the first one was
shown (p50, mean) and how many waited longer.

    .venv/bin/python benchmarks/bench_withdrawn.py /tmp/answers_facqa311.json [--probe-at 0.75]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.guard import StreamGuard  # noqa: E402
from rag.types import Hit  # noqa: E402

PIECE = re.compile(r"\s*\S+")


class BeforeOpening(StreamGuard):
    """The stream guard without the opening rule: a reply is shown from its first known word."""

    def _adds_to_question(self, text: str) -> bool:
        return True


def first_shown(guard: StreamGuard, reply: str) -> int | None:
    """The index of the word at which ``guard`` first shows some of ``reply``."""
    raw, shown = "", 0
    for i, piece in enumerate(PIECE.findall(reply)):
        raw += piece
        limit = guard.visible(raw)
        if limit > shown:
            return i
    return None


def replay(
    questions: dict[str, dict[str, Any]], records: list[dict[str, Any]], probe_at: float
) -> list[tuple[bool, int | None, int | None]]:
    """Per reply written (not refused before the model wrote): whether the final check refused
    it, and the word first shown before the opening rule and now."""
    fields = set(Hit.__dataclass_fields__)
    out = []
    for r in records:
        if r["pre_refused"] or (r.get("lacks_p") or 0.0) > probe_at or not r["hits"]:
            continue  # refused before a word was written: nothing streamed
        hits = [Hit(**{k: v for k, v in h.items() if k in fields}) for h in r["hits"]]
        question = questions[r["id"]]["question"]
        before = first_shown(BeforeOpening(question, hits), r["model_text"])
        now = first_shown(StreamGuard(question, hits), r["model_text"])
        out.append((r["refused"], before, now))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json", type=Path, help="a bench_answers.py --json output")
    parser.add_argument("--probe-at", type=float, default=0.75, help="the probe's threshold")
    args = parser.parse_args()
    data = json.loads(args.json.read_text())
    for set_name, entry in data["sets"].items():
        questions = {q["id"]: q for q in entry["questions"]}
        for mode, records in entry["records"].items():
            rows = replay(questions, records, args.probe_at)
            refused = [r for r in rows if r[0]]
            print(f"{set_name} ({mode}): {len(rows)} replies written, {len(refused)} refused")
            for name, col in (("before", 1), ("now", 2)):
                firsts = [r[col] for r in rows if not r[0] and r[col] is not None]
                print(
                    f"  {name:6s}: shown, then refused {sum(r[col] is not None for r in refused)}"
                    f"/{len(refused)}; answers that stand: first shown at word p50 "
                    f"{statistics.median(firsts):.0f}, mean {statistics.fmean(firsts):.2f}, "
                    f"never streamed {sum(1 for r in rows if not r[0] and r[col] is None)}"
                )
            later = [
                n - b for ok, b, n in rows if not ok and b is not None and n is not None and n > b
            ]
            print(
                f"  waited longer now: {len(later)} answers, by "
                f"{statistics.fmean(later or [0]):.1f} words on average"
            )


if __name__ == "__main__":
    main()
