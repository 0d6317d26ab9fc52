"""Knowing when the articles lack the answer, in two steps:

1. the evidence gate (``rag.answer.relevant_enough``), before the model: the best passage's
   dense similarity and the question coverage of its best sentence;
2. the learned probe (``rag.gate.probe``), after the model has read the prompt and before it
   writes a word: a linear read-out of its hidden state with the evidence signals.

The probe in force is the one fitted for the loaded model file (by its sha256): a file of the
user's own (``rag gate fit``, under ``<model_dir>/probes``) first, then the probes shipped in
``rag/gate/probes``. Another model, or a backend without hidden states (a remote API), answers
with the evidence gate alone.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ModelError
from rag.gate.probe import Probe, probe_signals
from rag.llm.base import LLM

if TYPE_CHECKING:
    from rag.settings import Settings

__all__ = ["Gate", "Probe", "gate_for", "gate_status", "probe_for_model", "user_probe_path"]

SHIPPED = Path(__file__).parent / "probes"

_CACHE: weakref.WeakKeyDictionary[LLM, dict[tuple[str, float | None], Gate]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_LOCK = threading.Lock()


def user_probe_path(settings: Settings, model_sha256: str) -> Path:
    """Where ``rag gate fit`` writes the probe of the model with this sha256."""
    return settings.model_dir / "probes" / f"{model_sha256[:16]}.npz"


def shipped_probes() -> list[Path]:
    """The probe files shipped with the package."""
    return sorted(SHIPPED.glob("*.npz"))


@dataclass(frozen=True)
class Gate:
    """The refusal steps in force for one model: ``probe`` is ``None`` where only the
    evidence gate applies (``reason`` says why)."""

    probe: Probe | None
    source: Path | None
    reason: str
    not_found: int = -1

    def describe(self) -> str:
        """One line for ``rag models``: which gate is in force, and why."""
        if self.probe is None:
            return f"refusal gate: evidence only ({self.reason})"
        layers = ",".join(str(n) for n in self.probe.layers)
        return (
            f"refusal gate: evidence + probe (layers {layers}, refuses above "
            f"{self.probe.threshold:.3f}; {self.source})"
        )

    def lacks_answer(self, llm: LLM, signals: dict[str, float]) -> float | None:
        """P(the passages lack the answer) from the model's reading of the prompt it is
        answering; ``None`` without a probe or a reading."""
        if self.probe is None:
            return None
        reading = llm.reading()
        if reading is None:
            return None
        return self.probe.probability(reading, probe_signals(signals, reading, self.not_found))


def probe_for_model(path: Path, settings: Settings) -> Gate:
    """The gate for the GGUF file at ``path`` under ``settings.gate`` (no model is loaded):
    the probe fitted for its sha256, a user's own first, or the evidence gate alone."""
    from rag.states import cache_folder, model_identity

    if settings.gate == "evidence":
        return Gate(None, None, "RAG_GATE=evidence")
    sha = model_identity(path, cache_folder(settings))
    if settings.gate != "auto":
        source = Path(settings.gate)
        probe = Probe.load(source)
        if probe.model_sha256 != sha:
            raise ModelError(
                f"the probe {source} was fitted for another model file; run `rag gate fit` "
                "for this one or set RAG_GATE=auto"
            )
        return _with_threshold(Gate(probe, source, "RAG_GATE"), settings)
    for source in [user_probe_path(settings, sha), *shipped_probes()]:
        if source.is_file():
            probe = Probe.load(source)
            if probe.model_sha256 == sha:
                return _with_threshold(Gate(probe, source, "fitted for this file"), settings)
    return Gate(None, None, f"no probe fitted for {path.name}; `rag gate fit` fits one")


def _with_threshold(gate: Gate, settings: Settings) -> Gate:
    if gate.probe is None or settings.gate_threshold is None:
        return gate
    return replace(gate, probe=gate.probe.with_threshold(settings.gate_threshold))


def gate_for(llm: LLM, settings: Settings) -> Gate:
    """The gate for ``llm`` under ``settings`` (``RAG_GATE``), cached per model. With a probe,
    the model's capture is set to read the probe's layers."""
    from rag.llm.hidden import LOGITS, layer_name
    from rag.prompt import NOT_FOUND

    key = (settings.gate, settings.gate_threshold)
    with _CACHE_LOCK:
        known = _CACHE.setdefault(llm, {})
        if key in known:
            return known[key]
        no_states = Gate(None, None, f"the {type(llm).__name__} backend gives no hidden states")
        gate = no_states if llm.path is None else probe_for_model(llm.path, settings)
        if gate.probe is not None:
            if llm.read_hidden([layer_name(n) for n in gate.probe.layers] + [LOGITS]):
                gate = replace(gate, not_found=llm.first_token(NOT_FOUND))
            else:
                gate = no_states
        known[key] = gate
        return gate


def gate_status(settings: Settings) -> str:
    """The line ``rag models`` prints: the gate the configured model answers with."""
    if settings.backend != "llama":
        return Gate(None, None, "a remote backend gives no hidden states").describe()
    from rag.models import model_file

    path = model_file(settings.model, settings.model_dir)
    if not path.is_file():
        return Gate(None, None, f"{settings.model.strip()} is not installed").describe()
    return probe_for_model(path, settings).describe()
