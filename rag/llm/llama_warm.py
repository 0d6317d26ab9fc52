"""Warming passage states ahead of questions, and the sentence screen that reads each passage
in the same pass (``rag.screen``): the part of :class:`rag.llm.llama_states.StatePrefill` that
computes states without answering."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from rag.errors import ModelError
from rag.prompt import PASSAGE_SEPARATOR, SYSTEM_PROMPT, passage_body

if TYPE_CHECKING:
    from llama_cpp import Llama

    from rag.llm.hidden import Reading
    from rag.llm.llama import LlamaCppLLM
    from rag.llm.llama_shelf import CacheStats, StateShelf
    from rag.screen import Screen
    from rag.types import Hit

Progress = Callable[[int, int], None]
Check = Callable[[list[bytes], "Reading | None"], bool]


class Warming:
    """Computing and storing passage states (mixed into ``StatePrefill``, which provides the
    context, the shelf and the model)."""

    llm: LlamaCppLLM
    screen: Screen | None
    stats: CacheStats
    _llama: Llama
    _segments: list
    _shelf: StateShelf

    def warm(
        self,
        passages: Sequence[Hit],
        *,
        system: str | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Compute and store the states of the ``passages`` not stored yet; ``progress(done,
        total)`` after each. With a screen, each passage is read sentence by sentence in the
        same pass; the sentences it flags are recorded and left out, and the state stored is
        the passage's without them. Returns how many states were computed. The model is taken
        one state at a time, so answers can run between."""
        head, _ = self._template(SYSTEM_PROMPT if system is None else system)
        built = 0
        for done, hit in enumerate(passages, 1):
            built += self._warm_one(head, hit, self.screen)
            if progress is not None:
                progress(done, len(passages))
        return built

    def _warm_one(self, head: str, hit: Hit, screen: Screen | None) -> int:
        """Compute and store ``hit``'s state if missing, read by ``screen`` first; returns 1
        when it was computed (a passage with flagged sentences is decoded twice). A passage
        the screen could not read is not stored (answers read it in place, patterns only)."""
        body = passage_body(hit)
        left_out = screen.record.get(body) if screen and not hit.screened else ()
        if left_out:  # read before: its state is the one without them
            hit, screen = replace(hit, screened=left_out), None
            body = passage_body(hit)
        text = body + PASSAGE_SEPARATOR
        key = self._key(head, text)
        if key in self._shelf:
            return 0
        if screen is None:  # no screen, or the passage as screened before
            self._build_held(key, head, text, None, store=True)
            return 1
        flagged: list[str] | None = None

        def check(pieces: list[bytes], reading: Reading | None) -> bool:
            nonlocal flagged
            flagged = None if reading is None else screen.flag(hit, pieces, reading)
            return flagged == []

        self._build_held(key, head, text, check)
        if flagged is None:
            self.stats.unread += 1
        elif flagged:
            screen.record.add(body, hit.doc_id, flagged)
            self.stats.screened += len(flagged)
            self._warm_one(head, replace(hit, screened=tuple(flagged)), None)
        return 1

    def read_passage(self, body: str, system: str | None = None) -> tuple[list[bytes], Reading]:
        """Read a passage ``body`` (``rag.prompt.passage_body``) as warming does, capturing
        every token's reading, and store nothing: each token's bytes and the reading (fitting
        and measuring the screen, on bodies the patterns have not filtered)."""
        head, _ = self._template(SYSTEM_PROMPT if system is None else system)
        seen: list[tuple[list[bytes], Reading]] = []

        def check(pieces: list[bytes], reading: Reading | None) -> bool:
            if reading is None:
                raise ModelError(f"{self.llm.name} gives no hidden states to read")
            seen.append((pieces, reading))
            return False

        self._build_held("", head, body + PASSAGE_SEPARATOR, check)
        return seen[0]

    def _build_held(
        self, key: str, head: str, text: str, check: Check | None, store: bool | None = None
    ) -> None:
        """:meth:`_build_state` of ``text`` after ``head``'s prefix, holding the model."""
        with self.llm.hold():
            try:
                prefix = self._ensure_prefix(head)
                self._build_state(key, prefix, text, keep=False, check=check, store=store)
            except RuntimeError as exc:
                self._segments = []
                raise ModelError(f"llama.cpp failed while computing a state: {exc}") from exc
