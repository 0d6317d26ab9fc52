"""The first word shown, with the stream guard and without it, on the very same answers.

Each question is answered once through the real ``ask_stream``. Every time the answer loop
asks the guard how much of the model's text may be shown, this also asks the checks it
replaced: ``stream_limit`` (links, addresses and phone numbers only) and the guard before
the rule that opens the stream only once the reply adds to the question; all are judged on
the same tokens at the same moments: no second run, no noise between them. Prints, per set,
first word p50/p95 from the question with each, the ratios, and how many answers the guard
held back longer than each (and by how much).

    .venv/bin/python benchmarks/bench_first_word.py --set seeds=index:bench/seeds/dev.jsonl \\
        --set facqa=/tmp/idx_facqa:bench/facqa/dev.jsonl:30
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


class Clock:
    """When each check first let a word through, in seconds from the question."""

    def __init__(self) -> None:
        self.started = 0.0
        self.guard: float | None = None
        self.old: float | None = None
        self.before: float | None = None  # the guard before the opening rule

    def reset(self) -> None:
        self.started, self.guard, self.old = time.perf_counter(), None, None
        self.before = None


def install(clock: Clock) -> None:
    """Wrap ``StreamGuard.limit`` to note both checks' first word."""
    from rag.guard import StreamGuard, stream_limit

    real = StreamGuard.limit

    def limit(self: StreamGuard, raw: str) -> int:
        now = time.perf_counter() - clock.started
        new = real(self, raw)
        if clock.old is None and raw[: stream_limit(raw)].strip():
            clock.old = now
        if clock.guard is None and raw[:new].strip():
            clock.guard = now
        if clock.before is None and raw[: self._known_prefix(raw)].strip():
            clock.before = now
        return new

    StreamGuard.limit = limit  # type: ignore[method-assign]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", action="append", default=[], help="NAME=INDEX:QUESTIONS[:N]")
    args = parser.parse_args()
    from rag.answer import ask_stream
    from rag.types import Answer

    clock = Clock()
    install(clock)
    for spec in args.set:
        name, rest = spec.split("=", 1)
        index, questions, *n = rest.split(":")
        qs = [q for q in load_questions(Path(questions)) if q["match"] != "refuse"]
        qs = qs[: int(n[0])] if n else qs
        settings = get_settings(index_dir=Path(index))
        pairs: list[tuple[float, float, float]] = []
        for q in qs:
            clock.reset()
            final = None
            for event in ask_stream(q["question"], **settings.model_dump()):
                if isinstance(event, Answer):
                    final = event
            if final is None or final.refused or clock.old is None:
                continue  # nothing was streamed: no first word to compare
            guard = clock.guard if clock.guard is not None else final.total_s
            pairs.append((clock.old, clock.before or guard, guard))
        if not pairs:
            print(f"{name}: no streamed answers")
            continue
        new = [p[2] for p in pairs]
        print(f"{name}: {len(pairs)} streamed answers; first word p50 / p95 with the guard "
              f"{statistics.median(new):.2f} / {pct(new, 0.95):.2f} s")  # fmt: skip
        for col, what in ((0, "links-only check"), (1, "guard before the opening rule")):
            old = [p[col] for p in pairs]
            later = [p[2] - p[col] for p in pairs if p[2] - p[col] > 0.05]
            print(
                f"  {what}: p50 {statistics.median(old):.2f} s (ratio "
                f"{statistics.median(new) / statistics.median(old):.3f}), p95 "
                f"{pct(old, 0.95):.2f} s; {len(later)} held longer by the guard"
                + (f" (by {statistics.median(later):.2f} s p50)" if later else ""),
                flush=True,
            )


if __name__ == "__main__":
    main()
