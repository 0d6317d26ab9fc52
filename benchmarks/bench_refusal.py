"""Refusing before the model: the evidence signals of every question, and the curve of refusal
recall against false refusals for the thresholds tried.

For each question the passages are retrieved exactly as ``ask()`` does (``select_passages``)
and three signals are printed per set: the best passage's dense similarity, the question's
coverage by the best sentence of the passages given (IDF-weighted, ``rag.evidence``), and the
question's names and numbers missing from every passage. Then, for a grid of thresholds, how
many ``refuse`` questions would be refused before the model (recall) and how many answerable
ones (false refusals). No LLM runs: it takes a few seconds per hundred questions.

    .venv/bin/python benchmarks/bench_refusal.py \\
        --set seeds=index:bench/seeds/dev.jsonl \\
        --set unanswerable=/tmp/idx_fu:bench/facqa_unanswerable/dev.jsonl \\
        --set facqa=/tmp/idx_facqa:bench/facqa/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval import load_questions  # noqa: E402
from rag.settings import get_settings  # noqa: E402


def signals(question: str, settings: Any) -> dict[str, float]:
    """The evidence signals ``rag.answer`` judges a question by before the model."""
    from rag.answer import evidence_signals, select_passages

    hits = select_passages(question, settings, lambda text: len(text) // 4)
    return evidence_signals(question, hits, settings)


def curve(rows: list[dict[str, Any]], dense: list[float], cover: list[float]) -> list[str]:
    lines = []
    refuse = [r for r in rows if r["refuse"]]
    answer = [r for r in rows if not r["refuse"]]
    for d in dense:
        for c in cover:

            def out(r: dict[str, Any], d: float = d, c: float = c) -> bool:
                return r["dense"] < d or r["coverage"] < c

            rec = sum(map(out, refuse)) / max(1, len(refuse))
            fr = sum(map(out, answer)) / max(1, len(answer))
            lines.append(f"  dense<{d:.3f} or coverage<{c:.2f}: recall {rec:.3f}  false {fr:.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", action="append", required=True, help="NAME=INDEX:QUESTIONS")
    parser.add_argument("--dense", default="0.77,0.78,0.79,0.80,0.81")
    parser.add_argument("--coverage", default="0,0.2,0.3,0.35,0.4,0.45,0.5")
    parser.add_argument("--json", type=Path, help="write every question's signals here")
    args = parser.parse_args()
    dense = [float(x) for x in args.dense.split(",")]
    cover = [float(x) for x in args.coverage.split(",")]
    dump: dict[str, Any] = {}
    for spec in args.set:
        name, rest = spec.split("=", 1)
        index, questions = rest.split(":", 1)
        settings = get_settings(index_dir=Path(index))
        rows = []
        for q in load_questions(Path(questions)):
            row = {"id": q["id"], "refuse": q["match"] == "refuse"}
            row.update(signals(q["question"], settings))
            rows.append(row)
        dump[name] = rows
        n_ref = sum(r["refuse"] for r in rows)
        print(f"== {name}: {len(rows)} questions, {n_ref} to refuse")
        for label, group in (("refuse", True), ("answer", False)):
            part = sorted((r for r in rows if r["refuse"] == group), key=lambda r: r["coverage"])
            if part:
                cov = [round(r["coverage"], 2) for r in part]
                print(f"  {label} coverage lowest: {cov[:12]}")
        print("\n".join(curve(rows, dense, cover)))
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
