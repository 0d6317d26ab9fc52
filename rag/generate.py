"""Generation: which way a prompt is answered, and warming the stored passage states.

Answer modes (``RAG_ANSWER_MODE``): ``full`` reads the whole prompt (an ordinary prefill);
``cached`` answers from every passage's stored KV state, computing and storing missing ones
first; ``auto`` uses the states that exist and reads the other passages in place (``rag ingest
--warm`` fills the store ahead of time, see :func:`warm_index`). Only the in-process llama.cpp
backend has states (``rag.llm.llama_states``); any other backend always answers in full.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ModelError
from rag.states import cache_folder

if TYPE_CHECKING:
    from rag.llm import LLM, LlamaCppLLM
    from rag.llm.llama_states import StatePrefill
    from rag.prompt import Prompt
    from rag.settings import Settings
    from rag.types import Hit

MODES = ("auto", "cached", "full")

Progress = Callable[[int, int], None]

_SHARED: dict[tuple[int, str, str, int, str], StatePrefill] = {}
_SHARED_LOCK = threading.Lock()


def state_prefill(llm: LlamaCppLLM, settings: Settings) -> StatePrefill:
    """The one :class:`StatePrefill` over ``llm`` for the state store of ``settings`` (its
    folder, byte budget and KV type) and its sentence screen, created on first use and dropped
    once ``llm`` is closed. Raises ``ModelError`` when the model cannot answer from states."""
    from rag.llm.llama_states import StatePrefill
    from rag.screen import screen_for
    from rag.states import PassageCache

    folder, budget, kv_type = (
        cache_folder(settings),
        settings.kv_cache_bytes,
        settings.kv_cache_type,
    )
    screen = screen_for(llm, settings)
    key = (id(llm), kv_type, str(folder), budget, screen.identity if screen else "")
    with _SHARED_LOCK:
        for stale in [k for k, p in _SHARED.items() if p.llm.closed]:
            del _SHARED[stale]  # its model was closed, and its context with it
        prefill = _SHARED.get(key)
        if prefill is None or prefill.llm is not llm:
            prefill = StatePrefill(
                llm, PassageCache(folder, budget), kv_type=kv_type, screen=screen
            )
            _SHARED[key] = prefill
        return prefill


def uses_states(llm: LLM, settings: Settings, hits: Sequence[Hit]) -> bool:
    """Whether :func:`answer_stream` answers ``hits`` from stored passage states here:
    ``cached`` mode (it builds the missing ones), or ``auto`` with at least one stored."""
    from rag.llm import LlamaCppLLM
    from rag.prompt import passage_body

    mode = settings.answer_mode
    if mode == "full" or not isinstance(llm, LlamaCppLLM):
        return False
    if mode == "cached":
        return True
    try:
        prefill = state_prefill(llm, settings)
    except ModelError:
        return False
    return any(prefill.has_state(passage_body(hit)) for hit in hits)


def answer_stream(
    llm: LLM, settings: Settings, prompt: Prompt, *, mode: str | None = None
) -> Iterator[str]:
    """The answer to ``prompt`` in the answer mode of ``settings`` (``RAG_ANSWER_MODE``) or
    ``mode``, streamed: ``full`` prefills the whole prompt; ``cached`` uses stored passage
    states, building missing ones; ``auto`` uses stored states and reads the passages without
    one in place. A remote backend, or a prompt without passages, answers in ``full``."""
    from rag.llm import LlamaCppLLM

    mode = mode or settings.answer_mode
    if mode not in MODES:
        raise ModelError(f"unknown answer mode {mode!r}; choose one of {', '.join(MODES)}")
    sampling = {"max_tokens": settings.max_tokens, "temperature": settings.temperature}
    if mode == "full" or not prompt.hits or not isinstance(llm, LlamaCppLLM):
        return llm.stream_prompt(prompt, **sampling)
    try:
        prefill = state_prefill(llm, settings)
    except ModelError:
        if mode == "cached":
            raise
        return llm.stream_prompt(prompt, **sampling)
    return prefill.stream(prompt, missing="build" if mode == "cached" else "fresh", **sampling)


def index_passages(index_dir: Path | str, embed_model: str | None = None) -> list[Hit]:
    """Every chunk of an index (a folder or a ``postgresql://`` store) as a passage, one per
    distinct body (``rag.prompt.passage_body``)."""
    from rag.prompt import passage_body
    from rag.store import open_store
    from rag.types import Hit

    passages: dict[str, Hit] = {}
    for chunk in open_store(str(index_dir), embed_model).iter_chunks():
        hit = Hit("", chunk.doc.id, chunk.text, chunk.start, chunk.end, 0.0, title=chunk.doc.title)
        passages.setdefault(passage_body(hit), hit)
    return list(passages.values())


def warm_index(settings: Settings, progress: Progress | None = None) -> tuple[int, int, int]:
    """Compute the missing passage states of every chunk of ``settings.index_dir`` (for
    ``rag ingest --warm``), each read by the sentence screen first when the model has one.
    Returns ``(computed, total, sentences left out)``."""
    from rag.llm import LlamaCppLLM, get_llm

    where = settings.store or settings.index_dir
    passages = index_passages(where, settings.embed_model)
    llm = get_llm(settings)
    if not isinstance(llm, LlamaCppLLM):
        raise ModelError(
            "passage states need the in-process llama.cpp backend; "
            "set RAG_BACKEND=llama or leave out --warm"
        )
    prefill = state_prefill(llm, settings)
    before = prefill.stats.screened
    built = prefill.warm(passages, progress=progress)
    return built, len(passages), prefill.stats.screened - before


def screen_hits(llm: LLM, settings: Settings, hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` with the sentences the model's sentence screen left out of them
    (``rag.screen``). In ``cached`` mode the passages not read yet are warmed (and screened)
    first, as the answer would compute their states anyway."""
    from rag.llm import LlamaCppLLM
    from rag.screen import screen_for

    if not hits or not isinstance(llm, LlamaCppLLM):
        return list(hits)
    screen = screen_for(llm, settings)  # None with RAG_SCREEN=off
    if screen is None:
        return list(hits)
    if settings.answer_mode == "cached":
        with contextlib.suppress(ModelError):  # then answered with what was screened before
            state_prefill(llm, settings).warm(hits)
    return screen.apply(hits)
