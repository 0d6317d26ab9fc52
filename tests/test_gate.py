"""The learned refusal gate: the probe file, the fit's folded linear map, and ask_stream refusing
on the probe's verdict before any word is shown (a fake model that has hidden states)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import rag.gate
import rag.llm
from rag import ask_stream
from rag.answer import Answer, Sources
from rag.errors import ModelError
from rag.gate import Gate, gate_for, gate_status, user_probe_path
from rag.gate.collect import Examples
from rag.gate.fit import FitOptions, _linear, _scores, cross_validated, fit, threshold_at
from rag.gate.probe import SIGNALS, Probe, not_found_probability
from rag.ingest import ingest
from rag.llm.base import Sampling
from rag.llm.hidden import Reading, layer_name
from rag.prompt import REFUSALS
from rag.settings import get_settings
from rag.states import model_identity
from tests.fakes import FakeLLM, passage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DIM = 12
QUESTION = "Di hotel mana Simposium Nasional Migration Governance diadakan?"


def probe_for(sha: str, bias: float, threshold: float = 0.5) -> Probe:
    rng = np.random.default_rng(0)
    return Probe(
        model_sha256=sha,
        layers=(3, 5),
        weights={3: rng.normal(size=DIM).astype(np.float32), 5: np.zeros(DIM, np.float32)},
        signal_weights=np.array([0.5, -0.25, 2.0], np.float32),
        bias=bias,
        threshold=threshold,
        description={"note": "test"},
    )


def test_probe_file_round_trips_and_scores_a_linear_read_out(tmp_path: Path) -> None:
    probe = probe_for("ab" * 32, bias=0.3)
    probe.save(tmp_path / "p.npz")
    back = Probe.load(tmp_path / "p.npz")
    assert back.layers == (3, 5) and back.model_sha256 == probe.model_sha256
    h3 = np.linspace(-1, 1, DIM).astype(np.float32)
    reading = Reading({layer_name(3): h3, layer_name(5): np.ones(DIM, np.float32)})
    signals = {"dense": 0.8, "coverage": 0.5, "p_not_found": 0.1}
    z = 0.3 + h3 @ probe.weights[3] + 0.5 * 0.8 - 0.25 * 0.5 + 2.0 * 0.1
    assert back.probability(reading, signals) == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-5)
    # a reading without one of the probe's layers gives no verdict
    assert back.probability(Reading({layer_name(3): h3}), signals) is None


def test_a_file_that_is_not_a_probe_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a probe")
    with pytest.raises(ModelError, match="refit"):
        Probe.load(bad)


def test_not_found_probability_is_the_softmax_of_its_token() -> None:
    logits = np.array([0.0, 2.0, 1.0], np.float32)
    expected = np.exp(2.0) / np.exp(logits).sum()
    assert not_found_probability(logits, 1) == pytest.approx(expected)
    assert not_found_probability(None, 1) == 0.0


def synthetic(n: int = 160, seed: int = 1) -> Examples:
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3 == 0).astype(int)
    direction = rng.normal(size=40)
    hidden = {
        n_: rng.normal(size=(n, 40)) + np.outer(y, direction) * (0.5 + n_ / 10) for n_ in (4, 7)
    }
    signals = np.column_stack([rng.normal(size=n) - y, rng.random(n), rng.random(n) * y])
    return Examples(
        layers=(4, 7),
        hidden={k: list(v) for k, v in hidden.items()},
        signals=signals.tolist(),
        labels=y.tolist(),
        ids=[str(i) for i in range(n)],
        gate_refused={"refuse": 5, "answer": 2},
    )


def test_the_folded_map_equals_scaler_pca_and_logistic_regression() -> None:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    ex = synthetic()
    opt = FitOptions(layers=(4, 7), dims=6, c=0.5)
    hidden = {n: np.asarray(ex.hidden[n]) for n in opt.layers}
    signals, y = np.asarray(ex.signals), np.asarray(ex.labels)
    weights, sig_w, bias = _linear(hidden, signals, y, opt)
    parts = []
    for n in opt.layers:
        x = hidden[n]
        z = (x - x.mean(0)) / (x.std(0) + 1e-6)
        parts.append(PCA(6, random_state=0).fit_transform(z))
    parts.append((signals - signals.mean(0)) / (signals.std(0) + 1e-6))
    features = np.hstack(parts)
    model = LogisticRegression(C=0.5, max_iter=5000, class_weight="balanced").fit(features, y)
    expected = model.predict_proba(features)[:, 1]
    assert np.allclose(_scores(weights, sig_w, bias, hidden, signals), expected, atol=1e-6)


def test_fit_separates_the_classes_and_its_threshold_keeps_the_budget() -> None:
    ex = synthetic()
    probe, report = fit(ex, "cd" * 32, FitOptions(layers=(4, 7), dims=8, budget=0.1))
    assert report["cv_auroc"] > 0.9
    y = np.asarray(ex.labels)
    cv = cross_validated(ex, FitOptions(layers=(4, 7), dims=8, budget=0.1))
    assert (cv[y == 0] > probe.threshold).mean() <= 0.1
    row = next(r for r in report["cv_curve"] if r["budget"] == 0.1)
    # with the gate: its own refusals count in both rates
    assert row["recall"] >= (5 + row["recall_past_gate"] * y.sum()) / (5 + y.sum()) - 1e-9
    assert threshold_at(np.array([0.9, 0.1, 0.2]), np.array([0, 0, 0]), 0.34) == 0.2


class ReadingLLM(FakeLLM):
    """A fake model with a file and hidden states: each prompt's reading is ``hidden``."""

    def __init__(self, path: Path, reply) -> None:
        super().__init__(reply)
        self.path = path
        self.captured: list[str] = []
        self.hidden = {
            layer_name(3): np.ones(DIM, np.float32),
            layer_name(5): np.ones(DIM, np.float32),
        }
        self._read: Reading | None = None

    def read_hidden(self, names: Sequence[str]) -> bool:
        self.captured = list(names)
        return True

    def reading(self) -> Reading | None:
        return self._read

    def _stream(self, messages, sampling: Sampling) -> Iterator[str]:
        self._read = Reading(dict(self.hidden))
        yield from super()._stream(messages, sampling)


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gate") / "index"
    ingest([SEEDS], get_settings(index_dir=path))
    return path


def with_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bias: float) -> ReadingLLM:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF fake weights")
    llm = ReadingLLM(model, lambda m: passage(m, 1).split(". ")[0] + " [1].")
    monkeypatch.setattr(rag.llm, "get_llm", lambda settings: llm)
    settings = get_settings(model_dir=tmp_path / "models", answer_mode="full")
    sha = model_identity(model, tmp_path / "models")
    user_probe_path(settings, sha).parent.mkdir(parents=True)
    probe_for(sha, bias=bias).save(user_probe_path(settings, sha))
    monkeypatch.setenv("RAG_MODEL_DIR", str(tmp_path / "models"))
    return llm


def test_the_probe_refuses_before_any_word_is_shown(
    seeds_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = with_probe(tmp_path, monkeypatch, bias=8.0)
    events = list(ask_stream(QUESTION, index_dir=seeds_index, answer_mode="full"))
    answer = events[-1]
    assert isinstance(answer, Answer) and isinstance(events[0], Sources)
    assert answer.refused and answer.refused_by == "probe"
    assert answer.lacks_answer_p is not None and answer.lacks_answer_p > 0.5
    shown = [e for e in events if isinstance(e, str)]
    assert shown == [answer.text] and answer.text in REFUSALS.values()  # only the refusal
    assert llm.closed_early  # generation stopped at the first token
    assert layer_name(3) in llm.captured and layer_name(5) in llm.captured


def test_the_probe_lets_an_answer_through_below_its_threshold(
    seeds_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_probe(tmp_path, monkeypatch, bias=-8.0)
    answer = list(ask_stream(QUESTION, index_dir=seeds_index, answer_mode="full"))[-1]
    assert isinstance(answer, Answer)
    assert not answer.refused and answer.citations and answer.refused_by == ""
    assert answer.lacks_answer_p is not None and answer.lacks_answer_p < 0.5
    # RAG_GATE_THRESHOLD overrides the file's threshold
    answer = list(ask_stream(QUESTION, index_dir=seeds_index, gate_threshold=0.0))[-1]
    assert isinstance(answer, Answer) and answer.refused_by == "probe"


def test_another_model_file_or_a_backend_without_states_keeps_the_evidence_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = with_probe(tmp_path, monkeypatch, bias=8.0)
    settings = get_settings()
    assert gate_for(llm, settings).probe is not None
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF other weights")
    assert "evidence only" in gate_status(settings.merged(model=str(other)))
    assert "evidence + probe" in gate_status(settings.merged(model=str(llm.path)))
    assert gate_for(FakeLLM(lambda m: ""), settings).probe is None
    assert gate_for(llm, settings.merged(gate="evidence")).probe is None
    assert "evidence only" in gate_status(settings.merged(backend="openai"))
    with pytest.raises(ModelError, match="another model file"):
        rag.gate.probe_for_model(
            other,
            settings.merged(
                gate=str(user_probe_path(settings, model_identity(llm.path, settings.model_dir)))
            ),
        )
    assert isinstance(Gate(None, None, "x").describe(), str)
    assert len(SIGNALS) == 3
