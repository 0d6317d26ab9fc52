"""Answer modes side by side through the real ``ask()``: accuracy, citations, refusals, speed,
and why each wrong answer is wrong.

Every question is answered in each mode, one after the other, the order alternating from one
question to the next, so a noisy machine slows all modes alike. Before a question's timed
answers, the passage states of its passages are computed (``warm``, untimed), so the cached
modes are timed on a warmed index, as after ``rag ingest --warm``. Prints per set and mode:
accuracy, citation precision, refusal recall, false refusals, prompt tokens p50, first token
p50/p95, total p50; and llama.cpp's raw prompt and generation tokens/s measured at the start.
Wrong answers are broken down: gold passage not given / the model's reply wrong / a right reply
dropped by the support check / refused by the model / refused before the model / right passage
quoted but the gold string not in the answer (a strict gold string).

    .venv/bin/python benchmarks/bench_answers.py --modes full,cached \\
        --set seeds=index:bench/seeds/dev.jsonl \\
        --set facqa=/tmp/idx_facqa:bench/facqa/dev.jsonl:60 [--json out.json]

``--rejudge out.json`` re-applies the current support check to the model replies stored in a
previous run's JSON (no model runs), to compare check variants on the same replies.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval import answer_correct, load_questions  # noqa: E402
from rag.settings import get_settings  # noqa: E402

KINDS = (
    "right",
    "gold passage not given",
    "model reply wrong",
    "right reply dropped by the check",
    "refused by the model",
    "refused before the model",
    "strict gold string",
)


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100)) if values else 0.0


def raw_rates(settings: Any) -> tuple[float, float]:
    """llama.cpp's own prompt and generation tokens/s on this machine now."""
    from benchmarks.bench_models import generation_speed, prompt_speed
    from rag.llm import get_llm

    llm = get_llm(settings)
    with llm._lock:
        return prompt_speed(llm), generation_speed(llm)


def warm(hits: list[Any], settings: Any) -> float:
    from rag.generate import state_prefill as get_cached_llm
    from rag.llm import get_llm

    started = time.perf_counter()
    get_cached_llm(get_llm(settings), settings).warm(hits)
    return time.perf_counter() - started


def kind_of(q: dict[str, Any], rec: dict[str, Any]) -> str:
    """Why an answerable question's answer is wrong (or ``right``)."""
    if rec["correct"]:
        return "right"
    if not rec["gold_given"]:
        return "gold passage not given"
    if rec["pre_refused"]:
        return "refused before the model"
    if answer_correct(q, rec["model_text"]) and "NOT_FOUND" not in rec["model_text"]:
        return "right reply dropped by the check"
    if rec["refused"] and "NOT_FOUND" in rec["model_text"]:
        return "refused by the model"
    if any(answer_correct(q, c["quote"]) for c in rec["citations"]):
        return "strict gold string"
    return "model reply wrong"


READINGS: list[tuple[str, str]] = []  # (mode, reply) of each model reading of a question


def record_readings() -> None:
    """Keep every model reading's reply (``ask()`` shows only the last): a stored-states reply
    and the full reading after it, so checks can be compared on the same replies later."""
    import rag.generate

    real = rag.generate.answer_stream

    def answer_stream(llm, settings, prompt, *, mode=None):  # noqa: ANN001, ANN202
        text = ""
        for piece in real(llm, settings, prompt, mode=mode):
            text += piece
            yield piece
        READINGS.append((mode or settings.answer_mode, text))

    rag.generate.answer_stream = answer_stream


def record(q: dict[str, Any], ans: Any, index: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from rag.eval import from_source, squad_scores

    refuse = q["match"] == "refuse"
    em, f1 = (0.0, 0.0) if refuse or ans.refused else squad_scores(q, ans.text)
    return {
        "id": q["id"],
        "refuse": refuse,
        "refused": ans.refused,
        "pre_refused": ans.refused and not ans.model_text,
        "correct": not refuse and not ans.refused and answer_correct(q, ans.text),
        "gold_given": any(from_source(index, h.doc_id, q) for h in ans.sources),
        "cited": len(ans.citations),
        "cited_ok": sum(from_source(index, c.doc_id, q) for c in ans.citations),
        "citations": [asdict(c) for c in ans.citations],
        "first_s": ans.first_token_s,
        "model_first_s": ans.model_first_s,
        "total_s": ans.total_s,
        "text": ans.text,
        "model_text": ans.model_text,
        "em": em,
        "f1": f1,
        "refused_by": ans.refused_by,
        "lacks_p": ans.lacks_answer_p,
        "readings": list(READINGS),
        "hits": [asdict(h) for h in ans.sources],
    }


def with_probe(rec: dict[str, Any], threshold: float) -> dict[str, Any]:
    """``rec`` as the probe at ``threshold`` would have left it: refused before any word when
    its P(lacks the answer) exceeds it (the run records it with RAG_GATE_THRESHOLD=1, so the
    probe never acts; at temperature 0 the answer it lets through is the same)."""
    p = rec.get("lacks_p")
    if p is None or p <= threshold or rec["refused"]:
        return rec
    return dict(
        rec,
        refused=True,
        correct=False,
        cited=0,
        cited_ok=0,
        em=0.0,
        f1=0.0,
        refused_by="probe",
        citations=[],
    )


def summary(questions: list[dict[str, Any]], recs: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [(q, r) for q, r in zip(questions, recs) if not r["refuse"]]
    refuse = [r for r in recs if r["refuse"]]
    ran = [r for r in recs if r["model_text"]]
    cited = sum(r["cited"] for r in recs if not r["refuse"])
    kinds = {k: 0 for k in KINDS}
    for q, r in answerable:
        kinds[kind_of(q, r)] += 1
    return {
        "accuracy": sum(r["correct"] for _, r in answerable) / max(1, len(answerable)),
        "em": sum(r.get("em", 0.0) for _, r in answerable) / max(1, len(answerable)),
        "f1": sum(r.get("f1", 0.0) for _, r in answerable) / max(1, len(answerable)),
        "right": sum(r["correct"] for _, r in answerable),
        "answerable": len(answerable),
        "citation_precision": sum(r["cited_ok"] for r in recs if not r["refuse"]) / max(1, cited),
        "refusal_recall": sum(r["refused"] for r in refuse) / len(refuse) if refuse else None,
        "refused": sum(r["refused"] for r in refuse),
        "to_refuse": len(refuse),
        "false_refusals": sum(r["refused"] for _, r in answerable),
        "first_p50": pct([r["first_s"] for r in ran], 0.5),
        "first_p95": pct([r["first_s"] for r in ran], 0.95),
        "model_first_p50": pct([r.get("model_first_s", 0.0) for r in ran], 0.5),
        "total_p50": pct([r["total_s"] for r in ran], 0.5),
        "kinds": kinds,
        "reread": sum(
            bool(r["readings"]) and r["readings"][0][0] != "full" and r["readings"][-1][0] == "full"
            for r in recs
        ),
    }


def show(name: str, mode: str, s: dict[str, Any]) -> None:
    refusals = f"{s['refused']}/{s['to_refuse']}" if s["to_refuse"] else "-"
    print(
        f"{name:12} {mode:7} right {s['right']}/{s['answerable']} ({s['accuracy']:.3f})  "
        f"EM {s['em']:.3f}  F1 {s['f1']:.3f}  "
        f"cit.prec {s['citation_precision']:.2f}  refused {refusals}  "
        f"false ref {s['false_refusals']}  first p50 {s['first_p50']:.1f}s "
        f"p95 {s['first_p95']:.1f}s (model's first token p50 {s['model_first_p50']:.1f}s)  "
        f"total p50 {s['total_p50']:.1f}s  read again in full {s['reread']}"
    )
    print("    " + "; ".join(f"{k}: {v}" for k, v in s["kinds"].items() if v))


def run_set(
    spec: str, modes: list[str], settings: Any, log: bool, thresholds: list[float]
) -> dict[str, Any]:
    from rag.answer import ask, relevant_enough, select_passages
    from rag.llm import get_llm
    from rag.retrieve import get_retriever

    name, rest = spec.split("=", 1)
    index_dir, questions_path, *limit = rest.split(":")
    cfg = settings.merged(index_dir=Path(index_dir))
    questions = load_questions(Path(questions_path), int(limit[0]) if limit else None)
    index = get_retriever(cfg).index
    recs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    warm_s = []
    for i, q in enumerate(questions):
        order = modes if i % 2 == 0 else modes[::-1]
        if any(m != "full" for m in modes):
            hits = select_passages(q["question"], cfg, get_llm(cfg).count_tokens)
            if relevant_enough(q["question"], hits, cfg):
                warm_s.append(warm(hits, cfg))
        for mode in order:
            READINGS.clear()
            ans = ask(q["question"], **cfg.merged(answer_mode=mode).model_dump())
            recs[mode].append(record(q, ans, index))
            if log:
                r = recs[mode][-1]
                ok = r["refused"] if r["refuse"] else r["correct"]
                print(
                    f"  {q['id']} {mode:6} {'OK ' if ok else 'BAD'} {r['first_s']:.1f}s "
                    f"p={r['lacks_p'] if r['lacks_p'] is None else round(r['lacks_p'], 3)} "
                    f"{r['text'][:100]!r}",
                    flush=True,
                )
    out = {"questions": questions, "records": recs, "warm_s": warm_s}
    for mode in modes:
        show(name, mode, summary(questions, recs[mode]))
        for t in thresholds:
            gated = [with_probe(r, t) for r in recs[mode]]
            show(name, f"{mode}+probe>{t:g}", summary(questions, gated))
    if warm_s:
        print(f"    warming: p50 {pct(warm_s, 0.5):.1f}s per question's passages")
    return out


def rejudge(path: Path, coverages: list[float], index_dirs: dict[str, str]) -> None:
    """Re-judge the replies stored in ``path`` with today's support check, for each refusal
    threshold in ``coverages`` (``min_coverage``), with ``ask()``'s rules (``_rejudged``); a
    full reading the run itself did not do is the ``full`` column's reply. No model runs."""

    data = json.loads(path.read_text())
    for name, run in data["sets"].items():
        settings = get_settings(index_dir=Path(index_dirs[name]))
        full_recs = run["records"].get("full")
        for theta in coverages:
            print(f"-- min_coverage {theta}")
            for mode, recs in run["records"].items():
                new = [
                    _rejudged(q, r, full_recs[i] if full_recs else None, mode, theta, settings)
                    for i, (q, r) in enumerate(zip(run["questions"], recs))
                ]
                show(name, mode, summary(run["questions"], new))


def _rejudged(
    q: dict[str, Any],
    r: dict[str, Any],
    full: dict[str, Any] | None,
    mode: str,
    theta: float,
    settings: Any,
) -> dict[str, Any]:
    """``r`` judged again as ``ask()`` judges today: refused before the model under
    ``theta``, else its first reply checked; a stored-states reply that fails the check, or
    does not cite the passage of the closest sentence, takes the full reading's reply."""
    from rag.analyzer import get_analyzer
    from rag.answer import cites_closest, evidence_signals
    from rag.citations import judge
    from rag.eval import from_source
    from rag.prompt import key_sentences
    from rag.retrieve import Hit, get_retriever

    r = dict(r)
    fields = set(Hit.__dataclass_fields__)
    hits = [Hit(**{k: v for k, v in h.items() if k in fields}) for h in r["hits"]]
    if not r["readings"]:
        return r
    if evidence_signals(q["question"], hits, settings)["coverage"] < theta:
        r.update(refused=True, pre_refused=True, correct=False, cited=0, cited_ok=0, citations=[])
        r["model_text"] = ""
        return r
    checked, refused = judge(r["readings"][0][1], hits, q["question"])
    retriever = get_retriever(settings)
    weights = retriever.term_weights(get_analyzer().tokens(q["question"]))
    closest = key_sentences(q["question"], hits, 1, weights)
    if mode != "full" and (refused or not cites_closest(checked, closest)):
        readings = r["readings"][1:] or (full["readings"] if full else [])
        r["reread"] = True
        if readings:
            checked, refused = judge(readings[0][1], hits, q["question"])
            r["total_s"] = max(r["total_s"], r["first_s"] + (full or r)["total_s"])
    index = retriever.index
    r.update(
        refused=refused,
        text=checked.text,
        correct=not r["refuse"] and not refused and answer_correct(q, checked.text),
        citations=[{"quote": c.quote, "doc_id": c.doc_id} for c in checked.citations],
        cited=len(checked.citations),
        cited_ok=sum(from_source(index, c.doc_id, q) for c in checked.citations),
        model_text=r["readings"][0][1],
    )
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", action="append", default=[], help="NAME=INDEX:QUESTIONS[:N]")
    parser.add_argument("--modes", default="full,cached")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rejudge", type=Path, help="a previous run's --json")
    parser.add_argument("--coverage", default="0", help="with --rejudge: min_coverage values")
    parser.add_argument("--log", action="store_true", help="print every answer")
    parser.add_argument(
        "--probe-at",
        default="",
        help="also show the sets as the probe would leave them at these thresholds (the run "
        "records its P(lacks) with RAG_GATE_THRESHOLD=1, so it never acts itself)",
    )
    args = parser.parse_args()
    if args.rejudge:
        index_dirs = {spec.split("=")[0]: spec.split("=")[1].split(":")[0] for spec in args.set}
        rejudge(args.rejudge, [float(v) for v in args.coverage.split(",")], index_dirs)
        return
    settings = get_settings()
    record_readings()
    prompt_tps, gen_tps = raw_rates(settings)
    print(f"llama.cpp today: prompt {prompt_tps:.1f} tokens/s, generation {gen_tps:.1f} tokens/s")
    modes = args.modes.split(",")
    result = {"prompt_tps": prompt_tps, "gen_tps": gen_tps, "sets": {}}
    for spec in args.set:
        thresholds = [float(t) for t in args.probe_at.split(",") if t]
        result["sets"][spec.split("=")[0]] = run_set(spec, modes, settings, args.log, thresholds)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
