"""The refusal gate on whole question sets, the old gate and the new side by side, without
generating answers: each question goes through the product's retrieval and evidence gate, and
the model reads the prompt once as the default answer mode does (``rag.gate.collect``); the
probe in force (or ``--probe``) scores the reading.

Prints per set: the evidence gate alone (refusal recall, false refusals), then evidence gate +
probe at the probe's threshold and along a curve of thresholds, over every question of the set;
and what the new gate still lets through, question by question. ``--save`` keeps the readings
(``--load`` scores them again, e.g. with another probe, with no model run).

    .venv/bin/python benchmarks/bench_gate.py \\
        --set funans=/tmp/idx_funans:bench/facqa_unanswerable/dev.jsonl \\
        --set seeds=index:bench/seeds/dev.jsonl [--probe FILE] [--save DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval import load_questions  # noqa: E402
from rag.settings import get_settings  # noqa: E402

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def scored(examples: Any, probe: Any) -> list[float]:
    """The probe's P(lacks the answer) of each reading of ``examples``."""
    from rag.gate.probe import SIGNALS
    from rag.llm.hidden import Reading, layer_name

    out = []
    for i in range(len(examples.labels)):
        reading = Reading({layer_name(n): examples.hidden[n][i] for n in probe.layers})
        signals = dict(zip(SIGNALS, examples.signals[i]))
        out.append(probe.probability(reading, signals))
    return out


def report(name: str, questions: list[dict[str, Any]], examples: Any, probe: Any) -> None:
    y = examples.labels
    g_ref, g_ans = examples.gate_refused["refuse"], examples.gate_refused["answer"]
    n_ref, n_ans = g_ref + sum(y), g_ans + len(y) - sum(y)
    print(f"{name}: {n_ref} to refuse, {n_ans} answerable")
    print(
        f"  evidence gate alone: refused {g_ref}/{n_ref} ({g_ref / max(1, n_ref):.3f}), "
        f"false refusals {g_ans}/{n_ans} ({g_ans / max(1, n_ans):.3f})"
    )
    scores = scored(examples, probe)
    for t in sorted({*THRESHOLDS, probe.threshold}):
        caught = sum(1 for s, lab in zip(scores, y) if lab and s > t)
        false = sum(1 for s, lab in zip(scores, y) if not lab and s > t)
        mark = "  <- the probe's threshold" if t == probe.threshold else ""
        print(
            f"  + probe > {t:.3f}: refused {g_ref + caught}/{n_ref} "
            f"({(g_ref + caught) / max(1, n_ref):.3f}), false refusals {g_ans + false}/{n_ans} "
            f"({(g_ans + false) / max(1, n_ans):.3f}){mark}"
        )
    by_id = {str(q["id"]): q for q in questions}
    passed = [
        (s, by_id[i]) for s, i, lab in zip(scores, examples.ids, y) if lab and s <= probe.threshold
    ]
    print(f"  still answered ({len(passed)}):")
    for s, q in sorted(passed, key=lambda p: p[0]):
        print(f"    {q['id']} p={s:.3f} {q['question'][:90]!r}")
    wrong = [
        (s, by_id[i])
        for s, i, lab in zip(scores, examples.ids, y)
        if not lab and s > probe.threshold
    ]
    print(f"  answerable refused by the probe ({len(wrong)}):")
    for s, q in sorted(wrong, key=lambda p: -p[0]):
        print(f"    {q['id']} p={s:.3f} {q['question'][:90]!r}")


def second_reading(
    name: str, questions: list[dict[str, Any]], examples: Any, probe: Any, cfg: Any
) -> None:
    """For each question the probe refuses: read the next-ranked passages once and score again
    (what a second reading before refusing would win back, and what it would let through)."""
    from rag.answer import prepare
    from rag.eval import answer_correct
    from rag.gate.collect import read_prompt
    from rag.gate.probe import probe_signals
    from rag.llm import get_llm
    from rag.llm.hidden import LOGITS, layer_name
    from rag.prompt import NOT_FOUND

    llm = get_llm(cfg)
    llm.read_hidden([layer_name(n) for n in probe.layers] + [LOGITS])
    not_found = llm.first_token(NOT_FOUND)
    by_id = {str(q["id"]): q for q in questions}
    scores = scored(examples, probe)
    won = {"refuse": 0, "answer": 0, "answer_holds": 0}
    tried = {"refuse": 0, "answer": 0}
    for s, i, lab in zip(scores, examples.ids, examples.labels):
        if s <= probe.threshold:
            continue
        q = by_id[i]
        kind = "refuse" if lab else "answer"
        tried[kind] += 1
        first = prepare(q["question"], None, cfg, llm)
        plan = prepare(q["question"], None, cfg, llm, skip={h.chunk_id for h in first.hits})
        if plan.prompt is None:
            continue
        reading = read_prompt(llm, cfg, plan.prompt)
        p = probe.probability(reading, probe_signals(plan.signals, reading, not_found))
        if p is not None and p <= probe.threshold:
            won[kind] += 1
            if not lab and any(answer_correct(q, h.text) for h in plan.hits):
                won["answer_holds"] += 1
    print(
        f"  second reading of the next-ranked passages: of {tried['answer']} answerable the "
        f"probe refused, {won['answer']} pass ({won['answer_holds']} with the gold answer in "
        f"them); of {tried['refuse']} unanswerable it refused, {won['refuse']} pass"
    )


def main() -> None:
    from rag.gate import Probe, gate_for
    from rag.gate.collect import Examples, collect
    from rag.llm import get_llm

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", action="append", default=[], help="NAME=INDEX:QUESTIONS[:N]")
    parser.add_argument("--probe", type=Path, help="a probe file (default: the one in force)")
    parser.add_argument("--save", type=Path, help="keep the readings here (NAME.npz)")
    parser.add_argument("--load", type=Path, help="score readings kept by --save")
    parser.add_argument("--layers", default="10,14,16,18,20,22,24,26")
    parser.add_argument("--second", action="store_true", help="measure a second reading")
    args = parser.parse_args()
    settings = get_settings()
    probe = Probe.load(args.probe) if args.probe else None
    layers = [int(n) for n in args.layers.split(",")]
    for spec in args.set:
        name, rest = spec.split("=", 1)
        index_dir, path, *limit = rest.split(":")
        questions = load_questions(Path(path), int(limit[0]) if limit else None)
        cfg = settings.merged(index_dir=Path(index_dir))
        if args.load:
            examples = Examples.load(args.load / f"{name}.npz")
        else:
            started = time.perf_counter()
            examples = collect(questions, cfg, layers)
            print(f"{name}: read in {time.perf_counter() - started:.0f} s")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                examples.save(args.save / f"{name}.npz")
        in_force = probe or gate_for(get_llm(cfg), cfg).probe
        if in_force is None:
            print(f"{name}: no probe in force for this model; pass --probe")
            continue
        report(name, questions, examples, in_force)
        if args.second:
            second_reading(name, questions, examples, in_force, cfg)


if __name__ == "__main__":
    main()
