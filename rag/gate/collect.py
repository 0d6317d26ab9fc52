"""The examples a probe is fitted on: for each question of a set, the product's own retrieval,
evidence gate and prompt, read once by the model (no answer generated), and what the reading
held (``rag.llm.hidden``) beside the signals measured before the model."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError
from rag.gate.probe import SIGNALS, probe_signals

if TYPE_CHECKING:
    import numpy as np

    from rag.llm import LLM
    from rag.settings import Settings

Progress = Callable[[int, int], None]


@dataclass
class Examples:
    """Readings of the questions the evidence gate let through (``rows``: one per question,
    in order) and how many it refused before the model, per label."""

    layers: tuple[int, ...]
    hidden: dict[int, list[np.ndarray]] = field(default_factory=dict)  # layer -> rows
    signals: list[list[float]] = field(default_factory=list)  # SIGNALS per row
    labels: list[int] = field(default_factory=list)  # 1: the articles lack the answer
    ids: list[str] = field(default_factory=list)
    gate_refused: dict[str, int] = field(default_factory=lambda: {"refuse": 0, "answer": 0})

    def save(self, path: Path) -> None:
        """Write the examples as one ``.npz`` (atomically)."""
        import io

        import numpy as np

        from rag.fileio import atomic_write

        buf = io.BytesIO()
        arrays = {f"l{n}": np.asarray(self.hidden[n], dtype=np.float32) for n in self.layers}
        meta = {"layers": list(self.layers), "ids": self.ids, "gate_refused": self.gate_refused}
        np.savez_compressed(
            buf,
            signals=np.asarray(self.signals, dtype=np.float32).reshape(-1, len(SIGNALS)),
            labels=np.asarray(self.labels, dtype=np.int8),
            meta=np.array(json.dumps(meta)),
            **arrays,
        )
        atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> Examples:
        """Read examples written by :meth:`save`."""
        import numpy as np

        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            layers = tuple(meta["layers"])
            return cls(
                layers=layers,
                hidden={n: list(z[f"l{n}"]) for n in layers},
                signals=z["signals"].tolist(),
                labels=z["labels"].tolist(),
                ids=meta["ids"],
                gate_refused=meta["gate_refused"],
            )


def read_prompt(llm: LLM, settings: Settings, prompt: Any, mode: str | None = None) -> Any:
    """Have the model read ``prompt`` as an answer would (``mode``: the answer mode) and return
    its reading; one token is generated, none is kept."""
    from rag.generate import answer_stream

    stream = answer_stream(llm, settings.merged(max_tokens=1), prompt, mode=mode)
    try:
        for _ in stream:
            break
    finally:
        stream.close()  # type: ignore[attr-defined]
    return llm.reading()


def collect(
    questions: Sequence[dict[str, Any]],
    settings: Settings,
    layers: Sequence[int],
    progress: Progress | None = None,
    mode: str | None = None,
) -> Examples:
    """Read every question of ``questions`` (the bench format: ``match`` ``refuse`` marks the
    ones the articles cannot answer; ``skip_chunks``, chunk ids retrieval leaves out) through
    the index of ``settings``."""
    from rag.answer import prepare
    from rag.llm import get_llm
    from rag.llm.hidden import LOGITS, layer_name
    from rag.prompt import NOT_FOUND

    llm = get_llm(settings)
    if not llm.read_hidden([layer_name(n) for n in layers] + [LOGITS]):
        raise ModelError("a probe reads llama.cpp's hidden states; set RAG_BACKEND=llama")
    not_found = llm.first_token(NOT_FOUND)
    out = Examples(layers=tuple(layers), hidden={n: [] for n in layers})
    for done, q in enumerate(questions, 1):
        label = "refuse" if q["match"] == "refuse" else "answer"
        plan = prepare(q["question"], None, settings, llm, skip=q.get("skip_chunks", ()))
        if plan.prompt is None:
            out.gate_refused[label] += 1
        else:
            reading = read_prompt(llm, settings, plan.prompt, mode)
            if reading is None or any(reading.layer(n) is None for n in layers):
                raise ModelError("the model's reading was not captured; check the llama.cpp build")
            for n in layers:
                out.hidden[n].append(reading.layer(n))
            values = probe_signals(plan.signals, reading, not_found)
            out.signals.append([values[name] for name in SIGNALS])
            out.labels.append(int(label == "refuse"))
            out.ids.append(str(q["id"]))
        if progress is not None:
            progress(done, len(questions))
    return out
