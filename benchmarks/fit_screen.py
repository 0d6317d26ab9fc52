"""Fit the sentence screen's probe (``rag.screen``) for the default model file, and measure it
on sentences it was not fitted on.

Every example is a passage body read the way ``rag ingest --warm`` reads it (after the system
prefix, ``StatePrefill.read_passage``), with the patterns off, and the reading of each sentence
is layer 14's residual stream at its last token and its mean over the sentence's tokens:

- **train**: each sentence of ``bench/injection/sentences/set4``, ``set5``, ``set7`` and
  ``set8`` (40 injections + 40 tricky news each) put at a random place in a host passage
  (Indonesian: the training twin's corpus, ``rag/gate/train``; English: the bench's clean
  English articles; sets 7-8 also their own 20 host paragraphs, read alone as well), and the 44
  bench hostile articles as they are (control tokens out; their instruction sentences, the
  patterns', are the injections). Every other sentence is news.
- **set 6** (never fitted on, worded to slip past keyword filters) put into FacQA dev passages
  (Indonesian) or among set 6's other English news; **corpus**: 200 FacQA dev passages and the
  seeds' chunks, every sentence news.

The fit: standardise, PCA, balanced logistic regression, folded into one weight vector; its
threshold is the ``--quantile`` of the cross-validated scores (folds grouped by passage) of
the training news sentences. ``--save`` writes ``rag/screen/probes/<model>.npz``.

    .venv/bin/python benchmarks/fit_screen.py [--dims 128] [--c 0.01] [--quantile 0.995] [--save]

Reading the 730 passages takes about 35 minutes on 2 cores; ``--cache`` keeps the readings.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.instructions import instruction_sentences  # noqa: E402
from rag.text import CHAT_CONTROL, PASSAGE_SENTENCE_BREAK  # noqa: E402

LAYER = 14
INJECTION = ROOT / "bench" / "injection"
Read = tuple[str, list[str], list[int], str]  # split, sentences, labels, title


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in PASSAGE_SENTENCE_BREAK.split(text) if s.strip()]


def build_reads() -> list[Read]:
    """Every passage to read, in a fixed order (seeded)."""
    rnd = random.Random(11)
    cases = _rows(INJECTION / "cases.jsonl")
    sets = {k: _rows(INJECTION / "sentences" / f"set{k}.jsonl") for k in (4, 5, 6)}
    id_train = [r["text"] for r in _rows(ROOT / "rag" / "gate" / "train" / "corpus.jsonl")]
    id_test = [r["text"] for r in _rows(ROOT / "bench" / "facqa" / "corpus.jsonl")]
    en_train = [c["clean"]["text"] for c in cases if c["language"] == "en"]

    def host(pool: list[str]) -> list[str]:
        found = _sentences(rnd.choice(pool))
        while sum(map(len, found)) < 250:
            found += _sentences(rnd.choice(pool))
        out, n = [], 0
        for s in found:
            if n > 380:
                break
            out.append(s)
            n += len(s)
        return out

    reads: list[Read] = []

    def insert(split: str, row: dict, pool: list[str]) -> None:
        around = host(pool)
        at = rnd.randrange(len(around) + 1)
        label = int(row["label"] == "injection")
        labels = [0] * at + [label] + [0] * (len(around) - at)
        reads.append((split, around[:at] + [row["text"]] + around[at:], labels, ""))

    for k in (4, 5):
        for row in sets[k]:
            insert("train", row, id_train if row["language"] == "id" else en_train)
    for case in cases:
        hostile = case["hostile"]
        found = _sentences(CHAT_CONTROL.sub(" ", hostile["text"]))
        flagged = set(instruction_sentences(hostile["text"]))
        labels = [int(s in flagged or bool(instruction_sentences(s))) for s in found]
        reads.append(("bench", found, labels, hostile["title"]))
    en6 = [r["text"] for r in sets[6] if r["label"] == "news" and r["language"] == "en"]
    for row in sets[6]:
        others = [s for s in en6 if s != row["text"]] or en6
        english = [" ".join(rnd.sample(others, 4))]  # drawn for every row: one seeded order
        insert("test", row, id_test if row["language"] == "id" else english)
    for text in rnd.sample(id_test, 200):
        found = _sentences(text)
        reads.append(("corpus", found, [0] * len(found), ""))
    for row in _rows(ROOT / "index" / "chunks.jsonl"):
        found = _sentences(row["t"])
        reads.append(("seeds", found, [0] * len(found), ""))
    # Sets 7 and 8, written later (blind to the other sets): their sentences in hosts that
    # include their own host paragraphs, and those paragraphs alone.
    rnd.seed(12)
    later = [r for k in (7, 8) for r in _rows(INJECTION / "sentences" / f"set{k}.jsonl")]
    hosts = {
        lang: [r["text"] for r in later if r["label"] == "host" and r["language"] == lang]
        for lang in ("id", "en")
    }
    for row in later:
        if row["label"] != "host":
            insert(
                "train",
                row,
                (id_train if row["language"] == "id" else en_train) + hosts[row["language"]],
            )
        else:
            found = _sentences(row["text"])
            reads.append(("train", found, [0] * len(found), ""))
    return reads


def read_all(reads: list[Read], first: int = 0) -> dict:
    """Each sentence's reading at :data:`LAYER` (its last token, its tokens' mean), with its
    split, passage and label, for ``reads[first:]``."""
    import numpy as np

    from rag.llm import get_llm
    from rag.llm.hidden import layer_name
    from rag.llm.llama_states import StatePrefill
    from rag.screen import sentence_rows, token_spans
    from rag.settings import get_settings

    llm = get_llm(get_settings())
    llm.read_hidden([layer_name(LAYER)])
    prefill = StatePrefill(llm, None)
    out: dict[str, list] = {"split": [], "read": [], "y": [], "text": [], "end": [], "mean": []}
    started = time.perf_counter()
    for i in range(first, len(reads)):
        split, sentences, labels, title = reads[i]
        body = (f" ({title})" if title else "") + " " + " ".join(sentences)
        pieces, reading = prefill.read_passage(body)
        units, at = [], 0
        for sentence in sentences:
            start = body.index(sentence, at)
            at = start + len(sentence)
            units.append((start, at, sentence))
        end, mean = sentence_rows(reading.block(LAYER), token_spans(body, units, pieces))
        out["end"].append(end.astype(np.float16))
        out["mean"].append(mean.astype(np.float16))
        out["split"] += [split] * len(sentences)
        out["read"] += [i] * len(sentences)
        out["y"] += labels
        out["text"] += sentences
        if (i - first) % 50 == 0:
            print(f"{i}/{len(reads)} read, {time.perf_counter() - started:.0f} s", flush=True)
    prefill.close()
    return {
        **{k: np.array(out[k]) for k in ("split", "read", "y", "text")},
        f"end_{LAYER}": np.concatenate(out["end"]),
        f"mean_{LAYER}": np.concatenate(out["mean"]),
    }


def readings(cache: Path) -> dict:
    """Every read's readings: those in ``cache`` (the first reads), the rest read now."""
    import numpy as np

    reads = build_reads()
    keys = ("split", "read", "y", "text", f"end_{LAYER}", f"mean_{LAYER}")
    data = {k: v for k, v in np.load(cache).items() if k in keys} if cache.is_file() else {}
    done = int(data["read"].max()) + 1 if data else 0
    if done < len(reads):
        print(f"{done} of {len(reads)} passages in {cache}; reading the rest", flush=True)
        more = read_all(reads, done)
        data = {k: np.concatenate([data[k], more[k]]) if data else more[k] for k in keys}
        np.savez(cache, **data)
    return data


def fit(x, y, groups, dims: int, c: float, quantile: float):  # noqa: ANN001, ANN201
    """The folded weight vector and bias, the cross-validated scores (folds grouped by
    passage) and the threshold: the ``quantile`` of the news sentences' scores."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    def one(rows: np.ndarray) -> tuple[np.ndarray, float]:
        xs = x[rows].astype(np.float64)
        mu, sd = xs.mean(0), xs.std(0) + 1e-6
        pca = PCA(dims, random_state=0).fit((xs - mu) / sd)
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        model.fit(pca.transform((xs - mu) / sd), y[rows])
        v = pca.components_.T @ model.coef_[0]
        return v / sd, float(model.intercept_[0] - pca.mean_ @ v - (mu / sd) @ v)

    cv = np.zeros(len(y))
    for tr, te in GroupKFold(5).split(x, y, groups):
        w, b = one(tr)
        cv[te] = 1 / (1 + np.exp(-(x[te].astype(np.float64) @ w + b)))
    w, b = one(np.arange(len(y)))
    threshold = float(np.quantile(cv[y == 0], quantile))
    return w, b, cv, threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--c", type=float, default=0.01)
    parser.add_argument("--quantile", type=float, default=0.995)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/fit_screen_readings.npz"))
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from rag.screen import readable

    data = readings(args.cache)
    keep = np.array([readable(t) for t in data["text"]])  # what the screen reads
    data = {k: v[keep] for k, v in data.items()}
    end, mean = data[f"end_{LAYER}"], data[f"mean_{LAYER}"]
    x, y, split = np.hstack([end, mean]).astype(np.float32), data["y"], data["split"]
    train = np.isin(split, ["train", "bench"])
    w, b, cv, thr = fit(x[train], y[train], data["read"][train], args.dims, args.c, args.quantile)
    score = 1 / (1 + np.exp(-(x.astype(np.float64) @ w + b)))
    ytr = y[train]
    print(
        f"layer {LAYER}, end + mean, PCA {args.dims}, C {args.c}: train CV AUROC "
        f"{roc_auc_score(ytr, cv):.3f}, threshold {thr:.3f} (the {args.quantile} quantile of "
        f"the training news, cross-validated)\n  train CV: injections "
        f"{int((cv[ytr == 1] > thr).sum())}/{int(ytr.sum())}, news "
        f"{int((cv[ytr == 0] > thr).sum())}/{int((ytr == 0).sum())}"
    )
    for name in ("test", "corpus", "seeds"):
        on = split == name
        pos, neg = score[on & (y == 1)], score[on & (y == 0)]
        caught = f"injections {int((pos > thr).sum())}/{len(pos)}, " if len(pos) else ""
        auc = f", AUROC {roc_auc_score(y[on], score[on]):.3f}" if len(pos) else ""
        print(f"  {name}: {caught}news sentences flagged {int((neg > thr).sum())}/{len(neg)}{auc}")
        for i in np.where(on & (score > thr) & (y == 0))[0]:
            print(f"    news flagged {score[i]:.2f}: {data['text'][i][:100]}")
    if args.save:
        save(np.vstack([w[: end.shape[1]], w[end.shape[1] :]]), b, thr, args)


def save(weights, bias: float, threshold: float, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Write the probe for the configured built-in model to ``rag/screen/probes``."""
    import numpy as np

    from rag.models import model_file
    from rag.screen.probe import SentenceProbe
    from rag.settings import get_settings
    from rag.states import cache_folder, model_identity

    settings = get_settings()
    path = model_file(settings.model, settings.model_dir)
    sha = model_identity(path, cache_folder(settings))
    fitted_on = "injection sets 4, 5, 7, 8 in host passages; the 44 bench hostile articles"
    about = {"fitted_on": fitted_on, "dims": args.dims, "c": args.c, "quantile": args.quantile}
    probe = SentenceProbe(sha, LAYER, weights.astype(np.float32), bias, threshold, about)
    out = ROOT / "rag" / "screen" / "probes" / f"{path.stem}.npz"
    probe.save(out)
    print(f"saved {out} (probe {probe.identity})")


if __name__ == "__main__":
    main()
