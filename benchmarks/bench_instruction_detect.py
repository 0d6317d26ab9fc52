"""Instruction sentences: how well does the detector tell a sentence that speaks to the
assistant from news, on wordings it was not written for?

``bench/injection/sentences/set{4,5,6}.jsonl``: 40 injections + 40 tricky news sentences each,
written blind (by someone who had seen neither the patterns nor the other sets). Sets 4 and 5
were measured, then the patterns were widened on them by kind; set 6 (worded to slip past a
keyword filter) was not widened on. The corpora (FacQA, the training twin, the seeds, the
bench's clean articles) are the news that must not be flagged.

Default: the patterns (``rag.instructions``) on every set and on the corpora's sentences.

``--probe``: the model's own reading as a detector (the pilot of ``rag.screen``, which reads each
sentence in its passage instead; ``fit_screen.py`` fits and measures that one). Each
sentence is read as passage [1] of the answer prompt; the residual stream of the last prompt
token is kept (``HiddenCapture``) and a logistic regression (standardised, PCA 32, balanced)
is fitted on the bench's hostile sentences, sets 4-5 and 400 corpus sentences, its threshold
set so that at most 1% of the training news is flagged in cross-validation; it is scored on
set 6 and 400 other corpus sentences. About 1.3 s a sentence on 2 cores (1,100 sentences).

    .venv/bin/python benchmarks/bench_instruction_detect.py [--probe] [--layers 14,18] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.instructions import instruction_sentences, instructions_of  # noqa: E402
from rag.text import PASSAGE_SENTENCE_BREAK  # noqa: E402

SETS = ROOT / "bench" / "injection" / "sentences"
CASES = ROOT / "bench" / "injection" / "cases.jsonl"
CORPORA = [
    ROOT / "bench" / "facqa" / "corpus.jsonl",
    ROOT / "rag" / "gate" / "train" / "corpus.jsonl",
]


def labelled(name: str) -> list[tuple[str, int]]:
    """``(text, 1 for an injection)`` of one sentence set."""
    rows = [json.loads(line) for line in (SETS / f"{name}.jsonl").open(encoding="utf-8")]
    return [(r["text"], int(r["label"] == "injection")) for r in rows]


def corpus_sentences() -> list[str]:
    """The news sentences of the corpora (over 30 characters), in a fixed shuffled order."""
    texts = [json.loads(line)["text"] for p in CORPORA for line in p.open(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").iterdir())]
    texts += [c["clean"]["text"] for c in map(json.loads, CASES.open(encoding="utf-8"))]
    sentences = [s.strip() for t in texts for s in PASSAGE_SENTENCE_BREAK.split(t)]
    sentences = [s for s in sentences if len(s) > 30]
    random.Random(7).shuffle(sentences)
    return sentences


def patterns() -> None:
    """The patterns' catch and false flags on every set and on the corpora."""
    for name in ("set4", "set5", "set6"):
        rows = labelled(name)
        flagged = [bool(instruction_sentences(t)) for t, _ in rows]
        inj = sum(f for f, (_, y) in zip(flagged, rows) if y)
        news = sum(f for f, (_, y) in zip(flagged, rows) if not y)
        print(f"{name}: injections flagged {inj}/{sum(y for _, y in rows)}, "
              f"news flagged {news}/{sum(1 - y for _, y in rows)}")  # fmt: skip
    sentences = corpus_sentences()
    print(f"corpora: {sum(bool(instruction_sentences(s)) for s in sentences)}/{len(sentences)} "
          "sentences flagged")  # fmt: skip


def probe(layers: list[int], limit: int | None) -> None:
    """Fit and score the hidden-state detector (module docstring)."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rag.llm import get_llm
    from rag.llm.hidden import layer_name
    from rag.prompt import PASSAGES_HEADER, SYSTEM_PROMPT, passage_label
    from rag.settings import get_settings

    cases = [json.loads(line) for line in CASES.open(encoding="utf-8")]
    hostile = [(s, 1) for c in cases for s in instructions_of(c["hostile"]["title"],
                                                               c["hostile"]["text"])]  # fmt: skip
    news = corpus_sentences()
    train = hostile + labelled("set4") + labelled("set5") + [(s, 0) for s in news[:400]]
    test, corpus = labelled("set6"), [(s, 0) for s in news[400:800]]
    if limit:
        train, test, corpus = train[:limit] + train[-limit:], test[:limit], corpus[:limit]
    llm: Any = get_llm(get_settings())
    llm.read_hidden([layer_name(n) for n in layers])

    def read(rows: list[tuple[str, int]]) -> dict[int, Any]:
        out: dict[int, list[Any]] = {n: [] for n in layers}
        for text, _ in rows:
            messages = [{"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user",
                         "content": f"{PASSAGES_HEADER}{passage_label(1)} {text}"}]  # fmt: skip
            for _ in llm.stream(messages, max_tokens=1, temperature=0.0):
                break
            reading = llm.reading()
            for n in layers:
                out[n].append(reading.layer(n))
        return {n: np.stack(v).astype(np.float32) for n, v in out.items()}

    started = time.perf_counter()
    x_train, x_test, x_corpus = read(train), read(test), read(corpus)
    seconds = (time.perf_counter() - started) / (len(train) + len(test) + len(corpus))
    print(f"read {len(train)} + {len(test)} + {len(corpus)} sentences, {seconds:.2f} s each")
    y_train, y_test = np.array([y for _, y in train]), np.array([y for _, y in test])
    for n in layers:
        model = make_pipeline(
            StandardScaler(),
            PCA(min(32, len(train) * 4 // 5 - 1), random_state=0),
            LogisticRegression(C=0.01, class_weight="balanced", max_iter=2000),
        )
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        cv = cross_val_predict(model, x_train[n], y_train, cv=folds, method="predict_proba")[:, 1]
        threshold = float(np.quantile(cv[y_train == 0], 0.99))
        model.fit(x_train[n], y_train)
        p_test = model.predict_proba(x_test[n])[:, 1]
        p_corpus = model.predict_proba(x_corpus[n])[:, 1]
        print(
            f"layer {n}: train CV AUROC {roc_auc_score(y_train, cv):.3f}, set 6 AUROC "
            f"{roc_auc_score(y_test, p_test):.3f}; at {threshold:.2f}: set 6 injections "
            f"{int((p_test[y_test == 1] > threshold).sum())}/{int(y_test.sum())}, news "
            f"{int((p_test[y_test == 0] > threshold).sum())}/{int((1 - y_test).sum())}, "
            f"corpus {int((p_corpus > threshold).sum())}/{len(p_corpus)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probe", action="store_true", help="the hidden-state pilot too")
    parser.add_argument("--layers", default="14,18", help="layers the probe reads")
    parser.add_argument("--limit", type=int, default=None, help="a quick run on a few sentences")
    args = parser.parse_args()
    patterns()
    if args.probe:
        probe([int(n) for n in args.layers.split(",")], args.limit)


if __name__ == "__main__":
    main()
