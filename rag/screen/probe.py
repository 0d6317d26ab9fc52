"""The sentence probe: a linear function of the model's reading of one sentence, read in its
passage (layer ``n``'s residual stream at the sentence's last token, and its mean over the
sentence's tokens), giving the probability that the sentence speaks to the assistant instead
of reporting news.

Fitted by ``benchmarks/fit_screen.py`` (scikit-learn); screening needs only numpy. The
standardisation, PCA and logistic regression of the fit fold into one weight vector, a bias and
the threshold above which a sentence is left out. A probe file names the sha256 of the model
file it was fitted for and is used for no other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

FORMAT = 1
READOUTS = ("end", "mean")  # the rows of a probe's weights, in order


@dataclass(frozen=True)
class SentenceProbe:
    """``P(instructs) = sigmoid(w_end . h_end + w_mean . h_mean + bias)`` for a sentence whose
    layer ``layer`` output is ``h_end`` at its last token and ``h_mean`` on average over its
    tokens (``weights``: one row per :data:`READOUTS`); above ``threshold`` it is left out."""

    model_sha256: str
    layer: int
    weights: np.ndarray
    bias: float
    threshold: float
    description: dict[str, Any]

    @property
    def identity(self) -> str:
        """A short hash of the weights, bias and threshold: stored passage states and screen
        records name the probe that read them."""
        digest = hashlib.sha256(self.weights.astype("<f4").tobytes())
        digest.update(json.dumps([self.layer, self.bias, self.threshold]).encode())
        return digest.hexdigest()[:16]

    @property
    def dim(self) -> int:
        """The width of the residual stream it reads."""
        return int(self.weights.shape[1])

    def probabilities(self, end: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """P(instructs) of each sentence: ``end`` and ``mean`` hold one row per sentence."""
        import numpy as np

        z = end.astype(np.float32) @ self.weights[0] + mean.astype(np.float32) @ self.weights[1]
        return 1.0 / (1.0 + np.exp(-(z.astype(np.float64) + self.bias)))

    def save(self, path: Path) -> None:
        """Write the probe as an ``.npz`` (atomically)."""
        from rag.fileio import write_arrays

        meta = {
            "format": FORMAT,
            "kind": "sentence",
            "model_sha256": self.model_sha256,
            "layer": self.layer,
            "readouts": list(READOUTS),
            "bias": self.bias,
            "threshold": self.threshold,
            "description": self.description,
        }
        write_arrays(path, meta, {"w": self.weights})

    @classmethod
    def load(cls, path: Path) -> SentenceProbe:
        """Read a probe file; a file of another format or kind is an error."""
        from rag.fileio import read_arrays

        try:
            meta, z = read_arrays(path)
            if (
                meta.get("format") != FORMAT
                or meta.get("kind") != "sentence"
                or tuple(meta.get("readouts", ())) != READOUTS
            ):
                raise ModelError(f"{path} is not a sentence probe of this version; refit it")
            return cls(
                model_sha256=meta["model_sha256"],
                layer=int(meta["layer"]),
                weights=z["w"],
                bias=float(meta["bias"]),
                threshold=float(meta["threshold"]),
                description=meta.get("description", {}),
            )
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"cannot read the sentence probe {path} ({exc}); refit it") from exc
