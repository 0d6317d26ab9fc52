"""Where in the prompt should the answerability probe read the model? The shipped probe reads
the last prompt token (layers 18 and 22); this compares other read-outs of the same prefill:
the mean over the question's tokens, the question's last token, the mean over the whole tail
(closest sentence, question, instruction), the closest sentence alone and the last four tokens.

``collect`` reads each question of a set as the default answer mode does (``rag.gate.collect``'s
``read_prompt``), keeping the tail's rows at several layers (``HiddenCapture.keep``), and saves
the pooled read-outs; ``compare`` fits each read-out on the training readings (train
cross-validation, as ``rag gate fit`` does) and scores the dev readings with it: refusal recall
over every question of the set (the evidence gate's refusals counted) at <= 8% false refusals.

    .venv/bin/python benchmarks/bench_probe_positions.py collect --train train.npz
    .venv/bin/python benchmarks/bench_probe_positions.py collect --index /tmp/idx_funans \\
        --questions bench/facqa_unanswerable/dev.jsonl dev.npz
    .venv/bin/python benchmarks/bench_probe_positions.py compare train.npz dev.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

LAYERS = (12, 14, 16, 18, 20, 22, 24, 26)
READOUTS = ("last", "question", "question_end", "tail", "sentence", "last4")
KEEP = 512  # rows kept per layer: more than any prompt tail
CANDIDATES = (
    (("last", 18), ("last", 22)),  # the shipped probe's read-out
    (("question", 18), ("question", 22)),
    (("question_end", 18), ("question_end", 22)),
    (("tail", 18), ("tail", 22)),
    (("sentence", 18), ("sentence", 22)),
    (("last4", 18), ("last4", 22)),
    (("last", 18), ("last", 22), ("question", 18), ("question", 22)),
    (("last", 18), ("last", 22), ("question", 22)),
    (("last", 18), ("last", 22), ("tail", 18), ("tail", 22)),
    (("last", 14), ("last", 18), ("last", 22)),
)


def pooled(block: np.ndarray, after: int, question: int) -> dict[str, np.ndarray]:
    """The read-outs of one layer's tail rows: ``after`` tokens follow the question's
    ``question`` tokens (the answer-language line and the chat template's tail)."""
    start = max(0, len(block) - after - question)
    q = block[start : len(block) - after]
    before = block[:start]
    return {
        "last": block[-1],
        "question": q.mean(0),
        "question_end": block[-after - 1],
        "tail": block.mean(0),
        "sentence": before.mean(0) if len(before) else block.mean(0),
        "last4": block[-4:].mean(0),
    }


def collect(index: str | None, questions_path: Path, out: Path, train: bool) -> None:
    """Read every question of ``questions_path`` (the training set of ``rag gate fit`` with
    ``train``) and save the pooled read-outs to ``out``."""
    from rag.answer import prepare
    from rag.eval import load_questions
    from rag.gate.collect import read_prompt
    from rag.gate.probe import not_found_probability
    from rag.llm import get_llm
    from rag.llm.hidden import LOGITS, layer_name
    from rag.llm.llama_template import ChatTemplate
    from rag.prompt import NOT_FOUND, SYSTEM_PROMPT, answer_line, question_line
    from rag.settings import get_settings
    from rag.text import defang

    settings = get_settings()
    if train:
        from rag.gate.refit import (
            Selection,
            augmented_questions,
            train_index,
            training_questions,
        )

        settings = train_index(settings)
        questions = training_questions(Selection())
        questions += augmented_questions(Selection(), settings)
    else:
        settings = settings.merged(index_dir=Path(index)) if index else settings
        questions = load_questions(questions_path)
    llm: Any = get_llm(settings)
    llm.read_hidden([layer_name(n) for n in LAYERS] + [LOGITS])
    llm.capture.keep = KEEP
    not_found = llm.first_token(NOT_FOUND)
    _, template_tail = ChatTemplate(llm._llama, llm.name).split(SYSTEM_PROMPT)

    def count(text: str) -> int:
        return len(llm._llama.tokenize(text.encode(), add_bos=False, special=True))

    feats: dict[str, list[np.ndarray]] = {f"{r}_{n}": [] for r in READOUTS for n in LAYERS}
    rows: dict[str, list[Any]] = {"signals": [], "labels": [], "ids": []}
    gate = {"refuse": 0, "answer": 0}
    started = time.perf_counter()
    for done, q in enumerate(questions, 1):
        label = "refuse" if q["match"] == "refuse" else "answer"
        plan = prepare(q["question"], None, settings, llm, skip=q.get("skip_chunks", ()))
        if plan.prompt is None:
            gate[label] += 1
            continue
        reading = read_prompt(llm, settings, plan.prompt)
        after = count(defang("\n" + answer_line(plan.language)) + template_tail)
        question = count(defang(question_line(q["question"])))
        tail = count(plan.prompt.tail + template_tail)
        for n in LAYERS:
            block = reading.block(n)[-tail:]
            for r, v in pooled(block, after, question).items():
                feats[f"{r}_{n}"].append(v.astype(np.float16))
        nf = not_found_probability(reading.logits, not_found)
        rows["signals"].append([plan.signals["dense"], plan.signals["coverage"], nf])
        rows["labels"].append(int(label == "refuse"))
        rows["ids"].append(str(q["id"]))
        if done % 10 == 0:
            print(
                f"{done}/{len(questions)} read, {time.perf_counter() - started:.0f} s", flush=True
            )
    save(out, feats, rows, gate)


def save(out: Path, feats: dict[str, Any], rows: dict[str, Any], gate: dict[str, int]) -> None:
    """Write pooled read-outs (``feats``: ``<readout>_<layer>`` -> rows) as one ``.npz``."""
    np.savez_compressed(
        out,
        signals=np.asarray(rows["signals"], dtype=np.float32),
        labels=np.asarray(rows["labels"], dtype=np.int8),
        meta=np.array(json.dumps({"ids": rows["ids"], "gate_refused": gate})),
        **{k: np.asarray(v, dtype=np.float16) for k, v in feats.items()},
    )


def load(paths: str) -> dict[str, Any]:
    """Readings saved by :func:`collect` (several files joined by ``,``)."""
    parts = [np.load(p) for p in paths.split(",")]
    gate = {"refuse": 0, "answer": 0}
    for z in parts:
        for k, v in json.loads(str(z["meta"]))["gate_refused"].items():
            gate[k] += v
    keys = [k for k in parts[0].files if k not in ("signals", "labels", "meta")]
    return {
        "feat": {k: np.concatenate([z[k] for z in parts]).astype(np.float32) for k in keys},
        "signals": np.concatenate([z["signals"] for z in parts]).astype(np.float64),
        "labels": np.concatenate([z["labels"] for z in parts]).astype(int),
        "gate": gate,
    }


def compare(train_paths: str, dev_paths: list[str]) -> None:
    """Each candidate read-out: train cross-validated AUROC and recall past the evidence gate
    at 6% false refusals, then on each dev set the recall over every question at <= 8%."""
    from sklearn.metrics import roc_auc_score

    from rag.gate.collect import Examples
    from rag.gate.fit import FitOptions, _linear, _scores, cross_validated, threshold_at

    train = load(train_paths)
    devs = {p: load(p) for p in dev_paths}
    y = train["labels"]
    print(f"train: {len(y)} readings ({int(y.sum())} to refuse), evidence gate {train['gate']}")
    for candidate in CANDIDATES:
        names = [f"{r}_{n}" for r, n in candidate]
        keys = tuple(range(len(names)))  # fit.py keys read-outs by int
        hidden = {i: train["feat"][name] for i, name in zip(keys, names)}
        ex = Examples(
            layers=keys,
            hidden={i: list(h) for i, h in hidden.items()},
            signals=train["signals"].tolist(),
            labels=y.tolist(),
            gate_refused=train["gate"],
        )
        opt = FitOptions(layers=keys)
        cv = cross_validated(ex, opt)
        cut = threshold_at(cv, y, opt.budget)
        line = (
            f"{' + '.join(names):44s} train CV AUROC {roc_auc_score(y, cv):.3f}, "
            f"caught past the gate at 6% {float((cv[y == 1] > cut).mean()):.2f}"
        )
        w, sw, b = _linear(hidden, train["signals"], y, opt)
        for path, dev in devs.items():
            s = _scores(w, sw, b, {i: dev["feat"][n] for i, n in zip(keys, names)}, dev["signals"])
            line += f"\n    {Path(path).name}: " + at_budget(s, dev, roc_auc_score)
        print(line, flush=True)


def at_budget(scores: np.ndarray, dev: dict[str, Any], auroc: Any, budget: float = 0.08) -> str:
    """AUROC past the gate, and the refusal recall over every question of the set at the
    lowest threshold keeping false refusals (the gate's included) within ``budget``."""
    y, gate = dev["labels"], dev["gate"]
    n_ref, n_ans = gate["refuse"] + int(y.sum()), gate["answer"] + int((y == 0).sum())
    best = (gate["refuse"], gate["answer"])
    for t in np.sort(np.unique(scores))[::-1]:
        false = gate["answer"] + int(((scores >= t) & (y == 0)).sum())
        if false / n_ans > budget:
            break
        best = (gate["refuse"] + int(((scores >= t) & (y == 1)).sum()), false)
    return (
        f"AUROC past the gate {auroc(y, scores):.3f}; at <= {budget:.0%} false: "
        f"refused {best[0]}/{n_ref} ({best[0] / n_ref:.3f}), false {best[1]}/{n_ans}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("out", type=Path)
    c.add_argument("--train", action="store_true", help="the bundled training set")
    c.add_argument("--index")
    c.add_argument("--questions", type=Path)
    m = sub.add_parser("compare")
    m.add_argument("train")
    m.add_argument("dev", nargs="*")
    args = parser.parse_args()
    if args.cmd == "collect":
        if not args.train and args.questions is None:
            parser.error("collect needs --train or --questions")
        collect(args.index, args.questions, args.out, args.train)
    else:
        compare(args.train, args.dev)


if __name__ == "__main__":
    main()
