"""The learned answerability probe: a linear function of the model's reading of the prompt
(the last prompt token's residual stream at a few layers, ``rag.llm.hidden``) and of the
signals measured before the model, giving the probability that the passages lack the answer.

Fitted by ``rag gate fit`` (``rag.gate.fit``, scikit-learn); answering needs only numpy. The
standardisation, PCA and logistic regression of the fit are one linear map, so a probe is a
weight vector per layer, one per signal, a bias and the threshold above which it refuses.
A probe file names the sha256 of the model file it was fitted for and is used for no other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

    from rag.llm.hidden import Reading

# The signals beside the hidden state, in the order a probe's signal weights follow.
SIGNALS = ("dense", "coverage", "p_not_found")
FORMAT = 1


def not_found_probability(logits: np.ndarray | None, token: int) -> float:
    """P(the first answer token starts NOT_FOUND) from the logits after the prompt."""
    import numpy as np

    if logits is None or not 0 <= token < len(logits):
        return 0.0
    z = logits.astype(np.float64) - float(logits.max())
    return float(np.exp(z[token]) / np.exp(z).sum())


def probe_signals(evidence: dict[str, float], reading: Reading, not_found: int) -> dict[str, float]:
    """The :data:`SIGNALS` of one reading: the evidence gate's (dense, coverage) and
    P(NOT_FOUND first) from the reading's logits (``not_found``: its first token's id)."""
    return dict(evidence, p_not_found=not_found_probability(reading.logits, not_found))


@dataclass(frozen=True)
class Probe:
    """``P(lacks) = sigmoid(sum_layer w_layer . h_layer + w_signals . signals + bias)``;
    refuse when it exceeds ``threshold``."""

    model_sha256: str
    layers: tuple[int, ...]
    weights: dict[int, np.ndarray]
    signal_weights: np.ndarray
    bias: float
    threshold: float
    description: dict[str, Any]

    def probability(self, reading: Reading, signals: dict[str, float]) -> float | None:
        """P(the passages lack the answer), or ``None`` when ``reading`` lacks a layer."""
        import numpy as np

        z = self.bias
        for n in self.layers:
            row = reading.layer(n)
            if row is None or row.shape != self.weights[n].shape:
                return None
            z += float(row @ self.weights[n])
        z += float(np.asarray([signals[s] for s in SIGNALS]) @ self.signal_weights)
        return float(1.0 / (1.0 + np.exp(-z)))

    def save(self, path: Path) -> None:
        """Write the probe as an ``.npz`` (atomically)."""
        from rag.fileio import write_arrays

        meta = {
            "format": FORMAT,
            "model_sha256": self.model_sha256,
            "layers": list(self.layers),
            "signals": list(SIGNALS),
            "bias": self.bias,
            "threshold": self.threshold,
            "description": self.description,
        }
        weights = {f"w{n}": self.weights[n] for n in self.layers}
        write_arrays(path, meta, {"signal_weights": self.signal_weights, **weights})

    @classmethod
    def load(cls, path: Path) -> Probe:
        """Read a probe file; a file of another format or signal set is an error."""
        from rag.fileio import read_arrays

        try:
            meta, z = read_arrays(path)
            if meta.get("format") != FORMAT or tuple(meta.get("signals", ())) != SIGNALS:
                raise ModelError(f"{path} is a probe of another format; refit it")
            layers = tuple(int(n) for n in meta["layers"])
            return cls(
                model_sha256=meta["model_sha256"],
                layers=layers,
                weights={n: z[f"w{n}"] for n in layers},
                signal_weights=z["signal_weights"],
                bias=float(meta["bias"]),
                threshold=float(meta["threshold"]),
                description=meta.get("description", {}),
            )
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"cannot read the probe {path} ({exc}); refit it") from exc

    def with_threshold(self, threshold: float) -> Probe:
        """This probe refusing above ``threshold``."""
        from dataclasses import replace

        return replace(self, threshold=threshold)
