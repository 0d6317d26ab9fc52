"""``rag gate fit``: fit the answerability probe for the configured GGUF from the bundled
training set (``rag/gate/train``: FacQA training questions, 400 whose answers were cut from the
corpus, 1,010 that stay answerable; see ``bench/README.md``), in four steps with progress:
index the training corpus (once), read each question as an answer would, fit, write the probe
where ``RAG_GATE=auto`` finds it (``<model_dir>/probes``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.gate.fit import FitOptions

if TYPE_CHECKING:
    from rag.gate.collect import Examples
    from rag.settings import Settings

TRAIN = Path(__file__).parent / "train"
Stage = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Selection:
    """Which training questions are read: every one to refuse and ``answerable`` of the
    others (all when ``None``), drawn with ``seed``; ``limit`` cuts the whole (a quick fit).
    Then ``augmented`` more answerable ones become questions to refuse: retrieval leaves out
    every chunk holding their gold answer, as the corpus's unanswerable twin was built."""

    answerable: int | None = 450
    limit: int | None = None
    seed: int = 7
    augmented: int = 400  # further answerable questions read with their answer's chunks left out


def training_questions(plan: Selection) -> list[dict[str, Any]]:
    """The bundled training questions ``plan`` selects, shuffled (reproducibly)."""
    from rag.eval import load_questions

    questions = load_questions(TRAIN / "train.jsonl")
    refuse = [q for q in questions if q["match"] == "refuse"]
    answerable = [q for q in questions if q["match"] != "refuse"]
    random.Random(plan.seed).shuffle(answerable)
    chosen = refuse + answerable[: plan.answerable]
    random.Random(plan.seed + 1).shuffle(chosen)
    return chosen[: plan.limit] if plan.limit else chosen


def augmented_questions(plan: Selection, settings: Settings) -> list[dict[str, Any]]:
    """The answerable training questions after those :func:`training_questions` reads, as
    questions to refuse whose retrieval skips the chunks of the training index (``settings``)
    that hold a gold answer."""
    from rag.eval import load_questions, normalise
    from rag.store import open_store

    questions = [q for q in load_questions(TRAIN / "train.jsonl") if q["match"] != "refuse"]
    random.Random(plan.seed).shuffle(questions)
    start = plan.answerable or 0
    chunks = [
        (c.chunk_id, normalise(c.text)) for c in open_store(str(settings.index_dir)).iter_chunks()
    ]
    out = []
    for q in questions[start : start + plan.augmented]:
        golds = [normalise(a) for fact in q["answers"] for a in fact.split("|") if normalise(a)]
        skip = {cid for cid, text in chunks if any(g in text for g in golds)}
        out.append(dict(q, id=f"aug-{q['id']}", match="refuse", skip_chunks=skip))
    return out


def train_settings(settings: Settings) -> Settings:
    """``settings`` over the training corpus's own index (``<model_dir>/probes/train-index``),
    its passage states kept apart from the user's."""
    folder = settings.model_dir / "probes"
    return settings.merged(
        index_dir=folder / "train-index", store=None, kv_cache_dir=folder / "train-states"
    )


def train_index(settings: Settings, stage: Stage | None = None) -> Settings:
    """Index the training corpus if it is not indexed yet; returns the settings reading it."""
    from rag.ingest import ingest

    ts = train_settings(settings)

    def progress(done: int, total: int, what: str) -> None:
        if stage is not None and what == "embedding":
            stage("indexing the training corpus", done, total)

    ingest([str(TRAIN / "corpus.jsonl")], ts, progress=progress)
    return ts


def examples_path(settings: Settings, sha: str, plan: Selection, layers: tuple[int, ...]) -> Path:
    """Where the readings of one model on one plan are kept (a refit reuses them)."""
    parts = [sha[:16], plan.answerable, plan.limit, plan.seed, plan.augmented]
    key = "-".join(map(str, [*parts, "_".join(map(str, layers))]))
    return settings.model_dir / "probes" / f"examples-{key}.npz"


def refit(
    settings: Settings,
    options: FitOptions,
    plan: Selection,
    stage: Stage | None = None,
    threshold: float | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Fit and write the probe of ``settings``' model (refusing above ``threshold``, else at
    the cross-validated ``options.budget``); returns its path and the fit report."""
    from rag.gate import user_probe_path
    from rag.gate.collect import Examples, collect
    from rag.gate.fit import fit
    from rag.llm import get_llm
    from rag.states import cache_folder, model_identity

    llm = get_llm(settings)
    sha = model_identity(llm.path, cache_folder(settings))  # type: ignore[attr-defined]
    cached = examples_path(settings, sha, plan, options.layers)
    if cached.is_file():
        examples: Examples = Examples.load(cached)
    else:
        ts = train_index(settings, stage)
        questions = training_questions(plan)

        def read(done: int, total: int) -> None:
            if stage is not None:
                stage("reading the training questions", done, total)

        if plan.limit is None:
            questions += augmented_questions(plan, ts)
        examples = collect(questions, ts, options.layers, progress=read)
        examples.save(cached)
    probe, report = fit(examples, sha, options)
    if threshold is not None:
        report["threshold"] = {"given": threshold, "from_cv_budget": probe.threshold}
        probe = replace(probe.with_threshold(threshold), description=report)
    out = user_probe_path(settings, sha)
    probe.save(out)
    return out, report
