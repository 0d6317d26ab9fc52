"""Fitting the answerability probe (scikit-learn): per layer, standardise and project on the
first principal components; with the standardised signals, a balanced logistic regression;
the whole folded into one linear map (``rag.gate.probe.Probe``). Cross-validation on the
training examples gives the refusal curve and the default threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.gate.probe import SIGNALS, Probe

if TYPE_CHECKING:
    import numpy as np

    from rag.gate.collect import Examples

BUDGETS = (0.02, 0.04, 0.06, 0.08, 0.10)


@dataclass(frozen=True)
class FitOptions:
    """How a probe is fitted: its layers, principal components per layer, the inverse
    regularisation ``c``, cross-validation folds and repeats, and the share of answerable
    questions (among those the evidence gate lets through) the threshold may refuse."""

    layers: tuple[int, ...] = (18, 22)
    dims: int = 16
    c: float = 0.1
    folds: int = 5
    repeats: int = 3
    budget: float = 0.06
    signals: bool = True
    seed: int = 0


def _linear(
    hidden: dict[int, np.ndarray], signals: np.ndarray, y: np.ndarray, opt: FitOptions
) -> tuple[dict[int, np.ndarray], np.ndarray, float]:
    """Fit on these rows; returns (weights per layer, signal weights, bias) of the folded map."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    parts, maps = [], []
    for n in opt.layers:
        x = hidden[n].astype(np.float64)
        mu, sd = x.mean(0), x.std(0) + 1e-6
        pca = PCA(min(opt.dims, len(x) - 1), random_state=opt.seed).fit((x - mu) / sd)
        parts.append(pca.transform((x - mu) / sd))
        maps.append((n, mu, sd, pca))
    s = signals.astype(np.float64)
    s_mu, s_sd = s.mean(0), s.std(0) + 1e-6
    if opt.signals:
        parts.append((s - s_mu) / s_sd)
    model = LogisticRegression(C=opt.c, max_iter=5000, class_weight="balanced")
    model.fit(np.hstack(parts), y)
    coef, bias = model.coef_[0], float(model.intercept_[0])
    weights, at = {}, 0
    for n, mu, sd, pca in maps:
        k = pca.n_components_
        u = pca.components_.T @ coef[at : at + k]
        weights[n] = u / sd
        bias -= float((mu / sd + pca.mean_) @ u)
        at += k
    sig_w = np.zeros(len(SIGNALS))
    if opt.signals:
        sig_w = coef[at:] / s_sd
        bias -= float((s_mu / s_sd) @ coef[at:])
    return weights, sig_w, bias


def _scores(
    weights: dict[int, np.ndarray],
    sig_w: np.ndarray,
    bias: float,
    hidden: dict[int, np.ndarray],
    signals: np.ndarray,
) -> np.ndarray:
    import numpy as np

    z = bias + signals @ sig_w
    for n, w in weights.items():
        z = z + hidden[n] @ w
    return 1.0 / (1.0 + np.exp(-z))


def cross_validated(examples: Examples, opt: FitOptions) -> np.ndarray:
    """Each example's probability from probes fitted without it (folds x repeats, averaged)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    hidden = {n: np.asarray(examples.hidden[n]) for n in opt.layers}
    signals, y = np.asarray(examples.signals), np.asarray(examples.labels)
    out = np.zeros(len(y))
    for rep in range(opt.repeats):
        folds = StratifiedKFold(opt.folds, shuffle=True, random_state=opt.seed + rep)
        for tr, te in folds.split(signals, y):
            w, sw, b = _linear({n: h[tr] for n, h in hidden.items()}, signals[tr], y[tr], opt)
            out[te] += _scores(w, sw, b, {n: h[te] for n, h in hidden.items()}, signals[te])
    return out / opt.repeats


def threshold_at(scores: np.ndarray, y: np.ndarray, budget: float) -> float:
    """The lowest threshold refusing at most ``budget`` of the answerable (label 0) rows."""
    import numpy as np

    neg = np.sort(scores[y == 0])[::-1]
    allowed = int(np.floor(budget * len(neg)))
    return float(neg[allowed]) if allowed < len(neg) else 0.0


def curve(scores: np.ndarray, y: np.ndarray, examples: Examples) -> list[dict[str, float]]:
    """Refusal recall and false refusals at each budget, past the evidence gate and with it
    (over every question read, the gate's own refusals counted)."""
    rows = []
    g_ref, g_ans = examples.gate_refused["refuse"], examples.gate_refused["answer"]
    n_ref, n_ans = g_ref + int(y.sum()), g_ans + int((y == 0).sum())
    for budget in BUDGETS:
        cut = threshold_at(scores, y, budget)
        caught, false = int((scores[y == 1] > cut).sum()), int((scores[y == 0] > cut).sum())
        rows.append(
            {
                "budget": budget,
                "threshold": cut,
                "recall_past_gate": caught / max(1, int(y.sum())),
                "false_past_gate": false / max(1, int((y == 0).sum())),
                "recall": (g_ref + caught) / max(1, n_ref),
                "false": (g_ans + false) / max(1, n_ans),
            }
        )
    return rows


def fit(examples: Examples, model_sha256: str, opt: FitOptions) -> tuple[Probe, dict[str, Any]]:
    """The probe fitted on all ``examples``, its threshold from their cross-validation at
    ``opt.budget``; and the report (the cross-validated curve, AUROC, data)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.asarray(examples.labels)
    cv = cross_validated(examples, opt)
    hidden = {n: np.asarray(examples.hidden[n]) for n in opt.layers}
    weights, sig_w, bias = _linear(hidden, np.asarray(examples.signals), y, opt)
    report = {
        "examples": {"refuse": int(y.sum()), "answer": int((y == 0).sum())},
        "gate_refused": examples.gate_refused,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(opt).items()},
        "cv_auroc": float(roc_auc_score(y, cv)),
        "cv_curve": curve(cv, y, examples),
    }
    probe = Probe(
        model_sha256=model_sha256,
        layers=tuple(opt.layers),
        weights=weights,
        signal_weights=sig_w,
        bias=bias,
        threshold=threshold_at(cv, y, opt.budget),
        description=report,
    )
    return probe, report


def layer_choice(
    examples: Examples, candidates: Sequence[Sequence[int]], opt: FitOptions
) -> list[tuple[tuple[int, ...], float, float]]:
    """Cross-validated AUROC and recall past the gate at ``opt.budget`` for each layer set."""
    from dataclasses import replace

    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.asarray(examples.labels)
    out = []
    for layers in candidates:
        cv = cross_validated(examples, replace(opt, layers=tuple(layers)))
        cut = threshold_at(cv, y, opt.budget)
        out.append((tuple(layers), float(roc_auc_score(y, cv)), float((cv[y == 1] > cut).mean())))
    return out
