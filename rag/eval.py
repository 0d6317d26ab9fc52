"""Benchmarks on the question sets of ``bench/`` (format in its README)."""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.settings import Settings

# Punctuation is dropped, except ". , / -" between two digits (2,1 / 9.660 / 2020-2021).
_PUNCT = re.compile(r"(?!(?<=\d)[.,/-](?=\d))[^\w\s]", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case, collapse whitespace, drop punctuation except ``. , / -`` inside numbers."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def fact_matches(fact: str, answer: str) -> bool:
    """True when one of the ``|``-separated alternatives of ``fact`` appears in ``answer``."""
    norm = normalise(answer)
    return any(normalise(alt) and normalise(alt) in norm for alt in fact.split("|"))


def answer_correct(question: dict[str, Any], answer: str) -> bool:
    """Apply the question's ``match`` rule (any / all) to ``answer``."""
    facts = question["answers"]
    hits = [fact_matches(f, answer) for f in facts]
    return all(hits) if question["match"] == "all" else any(hits)


_CITATION = re.compile(r"\s*\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _squad_tokens(text: str) -> list[str]:
    """SQuAD's answer normalisation (lower case, punctuation and English articles dropped),
    split on whitespace."""
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
    return _ARTICLES.sub(" ", text).split()


def squad_scores(question: dict[str, Any], answer: str) -> tuple[float, float]:
    """SQuAD-style exact match and token F1 of ``answer`` (citation markers removed) against
    the question's gold spans (every ``|`` alternative of every fact; the best counts)."""
    from collections import Counter

    predicted = _squad_tokens(_CITATION.sub("", answer))
    em = f1 = 0.0
    for gold in (alt for fact in question["answers"] for alt in fact.split("|")):
        truth = _squad_tokens(gold)
        em = max(em, float(predicted == truth))
        common = sum((Counter(predicted) & Counter(truth)).values())
        if common:
            p, r = common / len(predicted), common / len(truth)
            f1 = max(f1, 2 * p * r / (p + r))
    return em, f1


def load_questions(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Read a JSONL question set."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as exc:
                raise InputError(f"{path}:{n} is not valid JSON; fix the question file") from exc
    return out[:limit] if limit else out


def from_source(index: Any, doc_id: str, question: dict[str, Any]) -> bool:
    """Whether ``doc_id`` is one of the question's gold sources, or stored as the same text as
    one (the index keeps copies of an article once, under the first id)."""
    return any(i in question["sources"] for i in index.same_content(doc_id))


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100)) if values else 0.0


def run_eval(
    questions_path: Path,
    settings: Settings,
    retrieval_only: bool = False,
    limit: int | None = None,
    mode: str = "hybrid",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Retrieval metrics (recall@5, MRR@10, search latency) and, unless ``retrieval_only``,
    answer metrics from ``ask()`` on every question."""
    from rag.retrieve import get_retriever

    questions = load_questions(questions_path, limit)
    retriever = get_retriever(settings)
    retriever.search("warm up", k=1)
    answerable = [q for q in questions if q["match"] != "refuse"]

    recall, rr, times, context, holds = [], [], [], [], []
    for q in answerable:
        t0 = time.perf_counter()
        hits = retriever.search(
            q["question"], k=10, candidates=settings.candidates, fusion=settings.fusion, mode=mode
        )
        times.append((time.perf_counter() - t0) * 1000)
        ranks = [i for i, h in enumerate(hits) if from_source(retriever.index, h.doc_id, q)]
        recall.append(1.0 if ranks and ranks[0] < 5 else 0.0)
        holds.append(1.0 if any(answer_correct(q, h.text) for h in hits[:5]) else 0.0)
        rr.append(1.0 / (ranks[0] + 1) if ranks else 0.0)
        given = retriever.search(
            q["question"],
            k=settings.k,
            candidates=settings.candidates,
            fusion=settings.fusion,
            mode=mode,
            pool=settings.sentence_pool,
        )
        context.append(
            1.0 if any(from_source(retriever.index, h.doc_id, q) for h in given) else 0.0
        )
    result: dict[str, Any] = {
        "questions": len(answerable),
        "recall_at_5": round(statistics.fmean(recall), 4) if recall else 0.0,
        "mrr_at_10": round(statistics.fmean(rr), 4) if rr else 0.0,
        # a top-5 passage holds the gold answer, whichever document it comes from
        "answer_in_top_5": round(statistics.fmean(holds), 4) if holds else 0.0,
        # the k passages the model is given (with the best-sentence rescue), as ask() picks them
        f"recall_at_{settings.k}_given": round(statistics.fmean(context), 4) if context else 0.0,
        "search_p50_ms": round(_percentile(times, 0.5), 2),
        "search_p95_ms": round(_percentile(times, 0.95), 2),
    }
    if not retrieval_only:
        result.update(_answer_metrics(questions, settings, log))
    return result


def _answer_metrics(
    questions: list[dict[str, Any]], settings: Settings, log: Callable[[str], None] | None
) -> dict[str, Any]:
    from rag.answer import ask
    from rag.retrieve import get_retriever

    index = get_retriever(settings).index
    right, cited, cited_ok, em, f1 = [], 0, 0, [], []
    refused_when_should, answered_when_should = [], []
    first, total, tps = [], [], []
    for q in questions:
        ans = ask(q["question"], **settings.model_dump())
        should_refuse = q["match"] == "refuse"
        if should_refuse:
            refused_when_should.append(ans.refused)
        else:
            answered_when_should.append(not ans.refused)
            right.append(not ans.refused and answer_correct(q, ans.text))
            scores = (0.0, 0.0) if ans.refused else squad_scores(q, ans.text)
            em.append(scores[0])
            f1.append(scores[1])
        for c in ans.citations:
            cited += 1
            cited_ok += from_source(index, c.doc_id, q)
        if not ans.refused:
            first.append(ans.first_token_s)
            total.append(ans.total_s)
            gen = ans.total_s - ans.first_token_s
            if ans.tokens > 1 and gen > 0:
                tps.append((ans.tokens - 1) / gen)
        if log:
            ok = ans.refused if should_refuse else (right[-1] if right else False)
            log(f"{q['id']}: {'OK ' if ok else 'BAD'} {ans.first_token_s:.1f}s {ans.text[:120]!r}")
    n_ans = len(answered_when_should)
    return {
        "answer_accuracy": round(sum(right) / len(right), 4) if right else 0.0,
        # SQuAD-style, against the gold spans (a refusal scores 0), comparable with FacQA results
        "exact_match": round(statistics.fmean(em), 4) if em else 0.0,
        "token_f1": round(statistics.fmean(f1), 4) if f1 else 0.0,
        "citation_precision": round(cited_ok / cited, 4) if cited else 0.0,
        "refusal_recall": (
            round(sum(refused_when_should) / len(refused_when_should), 4)
            if refused_when_should
            else None
        ),
        "false_refusal_rate": round(1 - sum(answered_when_should) / n_ans, 4) if n_ans else 0.0,
        "refusal_accuracy": round(
            (sum(refused_when_should) + sum(answered_when_should))
            / max(1, len(refused_when_should) + n_ans),
            4,
        ),
        "first_token_p50_s": round(_percentile(first, 0.5), 2),
        "total_p50_s": round(_percentile(total, 0.5), 2),
        "tokens_per_s": round(statistics.median(tps), 2) if tps else 0.0,
    }
