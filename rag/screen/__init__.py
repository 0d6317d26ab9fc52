"""Sentences the model itself reads as instructions to it, found while it reads each passage
ahead of time (``rag ingest --warm`` computes every passage's state; the screen reads the same
pass): the residual stream at each sentence's last token goes through a linear probe fitted
for the model file (``rag.screen.probe``), and a sentence above its threshold is left out of
what the model reads, like the sentences the patterns find (``rag.instructions``), and shown
with its passage in the sources. The passage's state is then computed without it.

The patterns know the wordings they were written for; the probe reads meaning, so it also
catches instructions worded to avoid every keyword (README, 'Hostile articles'). A passage
read before a probe existed, or in a backend without hidden states, has the patterns alone.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ModelError
from rag.llm.base import LLM
from rag.screen.probe import SentenceProbe
from rag.screen.record import ScreenRecord

if TYPE_CHECKING:
    import numpy as np

    from rag.llm.hidden import Reading
    from rag.settings import Settings
    from rag.types import Hit

__all__ = [
    "Screen",
    "SentenceProbe",
    "sentence_rows",
    "token_spans",
    "left_out_by_document",
    "readable",
    "screen_for",
    "screen_for_model",
    "screen_status",
    "sentence_units",
]

SHIPPED = Path(__file__).parent / "probes"
# A sentence of fewer words (a list number, a dateline, a fragment) is not read: it can hardly
# instruct, and the probe's readings of such fragments are noise.
MIN_WORDS = 4


def readable(sentence: str) -> bool:
    """Whether the screen reads ``sentence`` (at least :data:`MIN_WORDS` letter words)."""
    from rag.text import LETTERS

    return len(LETTERS.findall(sentence)) >= MIN_WORDS


_CACHE: weakref.WeakKeyDictionary[LLM, dict[str, Screen | None]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def sentence_units(hit: Hit) -> tuple[str, list[tuple[int, int, str]]]:
    """The passage body of ``hit`` (``rag.prompt.passage_body``) and each sentence the model
    reads in it, as ``(start, end, sentence)`` in the body's characters."""
    from rag.instructions import view_sentences
    from rag.prompt import passage_parts

    body, parts = passage_parts(hit)
    units = []
    for start, end, source in parts:
        at = start
        for sentence in view_sentences(source, hit.screened):
            found = body.find(sentence, at, end)
            if found >= 0:
                units.append((found, found + len(sentence), sentence))
                at = found + len(sentence)
    return body, units


def token_spans(
    body: str, units: Sequence[tuple[int, int, str]], pieces: Sequence[bytes]
) -> list[tuple[int, int]]:
    """For each unit, the indices of the tokens holding its first and its last character;
    ``pieces`` are the bytes of each token of the body's text as the model read it
    (``rag.llm.llama_states``). ``(-1, -1)`` where the tokens do not reach it."""
    import bisect
    from itertools import accumulate

    ends, out = list(accumulate(len(p) for p in pieces)), []
    for start, end, _ in units:
        first = bisect.bisect_right(ends, len(body[:start].encode("utf-8")))
        last = bisect.bisect_left(ends, len(body[:end].encode("utf-8")))
        out.append((first, last) if last < len(ends) else (-1, -1))
    return out


def sentence_rows(
    rows: np.ndarray, spans: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Each sentence's reading from every token's ``rows``: the row of its last token and the
    mean of its tokens' rows (``spans`` from :func:`token_spans`, all within ``rows``)."""
    import numpy as np

    end = rows[[last for _, last in spans]]
    mean = np.stack([rows[first : last + 1].mean(0) for first, last in spans])
    return end, mean


@dataclass(frozen=True)
class Screen:
    """The sentence probe in force for one model file and the record of what it left out."""

    probe: SentenceProbe
    source: Path
    record: ScreenRecord

    @property
    def identity(self) -> str:
        """Names the probe in the keys of the passage states it read."""
        return f"screen:{self.probe.identity}"

    def describe(self) -> str:
        """One line for ``rag models``."""
        return (
            f"sentence screen: probe at layer {self.probe.layer}, leaves out above "
            f"{self.probe.threshold:.3f} ({self.source})"
        )

    def flag(self, hit: Hit, pieces: Sequence[bytes], reading: Reading) -> list[str] | None:
        """The sentences of ``hit``'s body that the model's reading (``reading``, every
        token's row; ``pieces``, each token's bytes) puts above the probe's threshold;
        ``None`` when the reading does not cover the body token by token (not read)."""
        body, units = sentence_units(hit)
        rows = reading.block(self.probe.layer)
        if (
            rows is None
            or rows.shape != (len(pieces), self.probe.dim)
            or not b"".join(pieces).startswith(body.encode("utf-8"))
        ):
            return None
        spans = token_spans(body, units, pieces)
        if any(not 0 <= first <= last < len(rows) for first, last in spans):
            return None
        scores = self.probe.probabilities(*sentence_rows(rows, spans))
        return [u[2] for u, p in zip(units, scores) if p > self.probe.threshold and readable(u[2])]

    def apply(self, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` with the sentences this screen left out of them (``Hit.screened``)."""
        from rag.prompt import passage_body

        out = []
        for hit in hits:
            left_out = () if hit.screened else self.record.get(passage_body(hit))
            out.append(replace(hit, screened=left_out) if left_out else hit)
        return out


def record_path(settings: Settings, model_sha256: str, probe: SentenceProbe) -> Path:
    """Where the screen record of this model file and probe is kept (beside the states)."""
    from rag.states import cache_folder

    return cache_folder(settings) / "screen" / f"{model_sha256[:16]}-{probe.identity}.json"


def screen_for_model(path: Path, settings: Settings) -> tuple[Screen | None, str]:
    """The screen for the GGUF file at ``path`` under ``settings.screen`` and why (no model
    is loaded): the probe fitted for its sha256, or none."""
    from rag.states import cache_folder, model_identity

    if settings.screen == "off":
        return None, "RAG_SCREEN=off"
    sha = model_identity(path, cache_folder(settings))
    own = settings.screen != "auto"
    sources = [Path(settings.screen)] if own else sorted(SHIPPED.glob("*.npz"))
    for source in sources:
        probe = SentenceProbe.load(source)
        if probe.model_sha256 == sha:
            return Screen(probe, source, ScreenRecord(record_path(settings, sha, probe))), ""
        if own:
            raise ModelError(
                f"the sentence probe {source} was fitted for another model file; "
                "set RAG_SCREEN=auto or off"
            )
    return None, f"no sentence probe fitted for {path.name}: the patterns alone"


def screen_status(settings: Settings) -> str:
    """The line ``rag models`` prints: the sentence screen of the configured model."""
    if settings.backend != "llama":
        return "sentence screen: none (a remote backend gives no hidden states): the patterns alone"
    from rag.models import model_file

    path = model_file(settings.model, settings.model_dir)
    if not path.is_file():
        return f"sentence screen: {settings.model.strip()} is not installed"
    screen, why = screen_for_model(path, settings)
    return screen.describe() if screen is not None else f"sentence screen: none ({why})"


def left_out_by_document(settings: Settings) -> dict[str, int]:
    """Sentences the configured model's screen left out, per document id (no model loaded;
    empty without a screen)."""
    from rag.models import BUILTIN_MODELS, model_file

    if settings.screen == "auto" and settings.model.strip() not in BUILTIN_MODELS:
        return {}  # probes ship for built-ins only (and hashing another file takes a while)
    path = model_file(settings.model, settings.model_dir)
    if settings.backend != "llama" or not path.is_file():
        return {}
    try:
        screen, _ = screen_for_model(path, settings)
    except ModelError:
        return {}
    return screen.record.documents() if screen is not None else {}


def screen_for(llm: LLM, settings: Settings) -> Screen | None:
    """The screen for ``llm`` under ``settings`` (``RAG_SCREEN``), cached per model; with a
    probe, the model's capture is set to read its layer too."""
    from rag.llm.hidden import layer_name
    from rag.states import cache_folder

    key = f"{settings.screen}|{cache_folder(settings)}"  # the record lives beside the states
    with _CACHE_LOCK:
        known = _CACHE.setdefault(llm, {})
        if key in known:
            return known[key]
        screen = None
        if llm.path is not None:
            screen, _ = screen_for_model(llm.path, settings)
            if screen is not None and not llm.read_hidden([layer_name(screen.probe.layer)]):
                screen = None
        known[key] = screen
        return screen
