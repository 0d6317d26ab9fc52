"""Answers on a loaded llama.cpp model without re-reading the passages: each passage's key/value
state is computed once, stored (``rag.states.PassageCache``) and placed into the prompt at
question time.

The prompt (``rag.prompt.Prompt``) is decoded in pieces::

    <template head + system prompt + user header> "Passages:\\n"   fixed prefix, cached
    "[1]"  " (Title) text of passage one\\n\\n"                      label fresh, body stored
    "[2]"  " (Title) text of passage two\\n\\n"                      ...
    "Most relevant sentence: ...Question: ..." <template tail>     decoded fresh

A body's state is computed after the fixed prefix only (never after other passages), at the
position right after the prefix, and saved with ``llama_state_seq_get_data``. At question time
each is loaded into sequence 1 of a several-sequence context (:class:`SeqContext`), shifted to
its place in sequence 0 and copied into it. Only the labels (all in one batch), the tail and the
template tail are read by the model: a few dozen tokens instead of several hundred. The pieces
tokenise exactly like the whole prompt does, so the differences from a full prefill are that a
passage does not attend to the passages before it, and a label not to the labels before it.

A state's key holds the sha256 of the model file, the llama.cpp version, the KV type, the
prefix text and the passage text, so a state is only ever loaded where it was computed. The
states are kept by :class:`rag.llm.llama_shelf.StateShelf`; the template is split around the
passages by :class:`rag.llm.llama_template.ChatTemplate`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rag.errors import ModelError, first_line
from rag.llm.llama import LlamaCppLLM
from rag.llm.llama_context import SeqContext
from rag.llm.llama_shelf import CacheStats, StateShelf
from rag.llm.llama_template import ChatTemplate
from rag.llm.llama_warm import Check, Warming
from rag.prompt import PASSAGE_SEPARATOR, SYSTEM_PROMPT, Prompt
from rag.states import PassageCache, StoredState, model_identity

if TYPE_CHECKING:
    from rag.screen import Screen

Missing = Literal["build", "fresh"]


@dataclass
class _Segment:
    kind: str  # prefix | label | state | fresh | tail
    tokens: tuple[int, ...]


class StatePrefill(Warming):
    """A loaded :class:`LlamaCppLLM` answering from stored passage states.

    It shares the model weights and its lock (full and state answers never interleave) and owns
    a second llama.cpp context with several sequences. Sequence 0 keeps the system prefix (and
    the passages of the previous question) between answers."""

    def __init__(
        self,
        llm: LlamaCppLLM,
        cache: PassageCache | None = None,
        *,
        kv_type: str = "f16",
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_batch: int | None = None,
        seed: int = 0,
        screen: Screen | None = None,
    ) -> None:
        """Wrap ``llm``; ``cache`` ``None`` keeps states in memory only (tests, benchmarks).
        ``kv_type`` ``q8_0`` halves the states. Threads, batch and window default to ``llm``'s.
        ``screen``: the sentence screen that reads each passage warmed (``rag.screen``)."""
        from llama_cpp import __version__ as llama_cpp_version

        if not isinstance(llm, LlamaCppLLM):
            raise ModelError(
                "the cached answer mode needs the in-process llama.cpp backend; "
                "set RAG_ANSWER_MODE=full or RAG_BACKEND=llama"
            )
        llama = llm._llama
        self._chat = ChatTemplate(llama, llm.name)
        self.llm = llm
        self.cache = cache
        self.kv_type = kv_type
        self.name = f"{llm.name}+kv"
        self.stats = CacheStats()
        self._llama = llama
        self._segments: list[_Segment] = []
        self._seed = seed
        self._ctx = SeqContext(
            llama,
            name=llm.name,
            kv_type=kv_type,
            n_ctx=n_ctx or llm.n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            n_batch=n_batch,
            capture=llm.capture,
        )
        self.n_ctx = self._ctx.n_ctx
        self.model_id = model_identity(llm.path, cache.folder if cache is not None else None)
        self.screen = screen
        self._shelf = StateShelf(
            cache,
            self.model_id,
            kv_type,
            llama_cpp_version,
            self._rejected,
            screen.identity if screen is not None else "",
        )

    # ----------------------------------------------------------- public API

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        missing: Missing = "build",
    ) -> Iterator[str]:
        """Stream the answer to ``prompt``. Each passage comes from its stored state; a missing
        one is computed and stored (``missing="build"``) or read in place (``"fresh"``).
        Closing the iterator stops generation."""
        with self.llm.hold():
            try:
                cur = self._prefill(prompt, missing)
                yield from self._ctx.generate(
                    cur, max_tokens=max_tokens, temperature=temperature, seed=self._seed, stop=stop
                )
            except RuntimeError as exc:
                self._segments = []
                raise ModelError(
                    f"llama.cpp failed while answering: {(first_line(exc) or repr(exc))[:160]}"
                ) from exc
            except BaseException:
                self._segments = []
                raise

    def has_state(self, body: str, system: str | None = None) -> bool:
        """Whether passage ``body`` has a stored state after ``system``'s prefix."""
        return self.state_key(body, system) in self._shelf

    def state_key(self, body: str, system: str | None = None) -> str:
        """The cache key of passage ``body``'s state after ``system``'s prefix."""
        head, _ = self._template(SYSTEM_PROMPT if system is None else system)
        return self._key(head, body + PASSAGE_SEPARATOR)

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The prompt's tokens as this path feeds them, piece by piece (equal to the whole
        prompt tokenised at once)."""
        head, template_tail = self._template(prompt.system)
        tokens = self.tokenize(head, add_bos=True)
        for label, piece in prompt.passage_pieces():
            tokens += self.tokenize(label) + self.tokenize(piece)
        return tokens + self.tokenize(prompt.tail + template_tail)

    def tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        """``text`` as tokens, special tokens (template tags) recognised."""
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def close(self) -> None:
        """Free the context (the wrapped model stays loaded)."""
        with self.llm._lock:
            self._ctx.close()

    # ----------------------------------------------------------- prompt and states

    def _template(self, system: str) -> tuple[str, str]:
        """The chat template's text before and after the passages (:class:`ChatTemplate`)."""
        return self._chat.split(system)

    def _key(self, head: str, text: str) -> str:
        return self._shelf.passage_key(head, text)

    def _load_state(self, key: str, tokens: list[int]) -> StoredState | None:
        return self._shelf.load(key, tokens)

    def _rejected(self) -> None:
        self.stats.rejected += 1

    # ----------------------------------------------------------- filling the context

    def _ensure_prefix(self, head: str) -> list[int]:
        """Make sequence 0 start with the prefix tokens of ``head`` (from the context, from
        disk, or decoded); returns them."""
        ctx = self._ctx
        tokens = self.tokenize(head, add_bos=True)
        if self._segments and self._segments[0] == _Segment("prefix", tuple(tokens)):
            return tokens
        self._segments = []
        ctx.remove(-1)  # every sequence
        key = self._shelf.prefix_key(head)
        state = self._load_state(key, tokens)
        loaded = state is not None and ctx.set_state(0, state.data)
        if state is not None and not loaded:
            self._shelf.reject(key)
        if loaded and ctx.positions(0)[1] != len(tokens) - 1:
            self._shelf.reject(key)
            loaded = False
        if not loaded:
            ctx.remove(0)
            ctx.decode(tokens, 0, 0)
            self._shelf.store(key, tokens, ctx.get_state(0))
        self._segments = [_Segment("prefix", tuple(tokens))]
        return tokens

    def _build_state(
        self,
        key: str,
        prefix: list[int],
        text: str,
        *,
        keep: bool,
        check: Check | None = None,
        store: bool | None = None,
    ) -> None:
        """Compute ``text`` after the prefix alone, in sequence 1, and store it. With ``keep``
        the state stays in sequence 1 (at the position after the prefix) for placing. With
        ``check`` (the screen), every token's reading is captured and the state is stored
        only when ``check(pieces, reading)`` is true (``pieces``: each token's bytes); without,
        ``store`` decides, and by default a screened model stores no state it did not read (an
        answer building one it lacks uses it unstored)."""
        ctx = self._ctx
        tokens = self.tokenize(text)
        started = time.perf_counter()
        ctx.remove(1)
        ctx.copy(0, 1, 0, len(prefix))
        if check is not None:
            with self.llm.capture.armed(every_row=True):
                ctx.decode(tokens, len(prefix), 1)
            pieces = [ctx.piece(t, special=True) for t in tokens]
            store = check(pieces, self.llm.capture.reading())
        else:
            ctx.decode(tokens, len(prefix), 1)
            store = self.screen is None if store is None else store
        ctx.remove(1, 0, len(prefix))
        data = ctx.get_state(1)
        if store:
            self._shelf.store(key, tokens, data)
        if not keep:
            ctx.remove(1)
        self.stats.built += 1
        self.stats.build_s += time.perf_counter() - started
        self.stats.build_tokens += len(tokens)
        self.stats.state_bytes += len(data)

    def _place(self, key: str, prefix: list[int], text: str, cur: int, build: bool) -> int | None:
        """Put the state of ``text`` at position ``cur`` of sequence 0; returns its token
        count, or ``None`` when there is no usable state and ``build`` is false."""
        ctx = self._ctx
        tokens = self.tokenize(text)
        start = len(prefix)
        state = self._load_state(key, tokens)
        ready = False
        if state is not None:
            ready = ctx.set_state(1, state.data)
            if ready and ctx.positions(1) != (start, start + len(tokens) - 1):
                ready = False
            if not ready:
                ctx.remove(1)
                self._shelf.reject(key)
            else:
                self.stats.loaded += 1
        if not ready:
            if not build:
                return None
            self._build_state(key, prefix, text, keep=True)
        ctx.shift(1, cur - start)
        ctx.copy(1, 0)
        ctx.remove(1)
        return len(tokens)

    def _prefill(self, prompt: Prompt, missing: Missing) -> int:
        """Fill sequence 0 with the prompt; returns its length (logits ready for the last).

        The stored states are placed first (no model work). The pieces between them (labels,
        passages without a state) are then decoded in one batch, each against the cells
        before it, and the tail last, against everything."""
        head, template_tail = self._template(prompt.system)
        prefix = self._ensure_prefix(head)
        planned: list[tuple[_Segment, str]] = []  # (segment, its text)
        for label, piece in prompt.passage_pieces():
            planned += [
                (_Segment("label", tuple(self.tokenize(label))), label),
                (_Segment("state", tuple(self.tokenize(piece))), piece),
            ]
        tail = _Segment("tail", tuple(self.tokenize(prompt.tail + template_tail)))

        # Keep what sequence 0 already holds of this prompt, up to (never including) the tail.
        keep = 1
        while (
            keep < len(self._segments)
            and keep - 1 < len(planned)
            and self._segments[keep] == planned[keep - 1][0]
        ):
            keep += 1
        self._segments = self._segments[:keep]
        cur = sum(len(s.tokens) for s in self._segments)
        self._ctx.remove(0, cur, -1)
        self._ctx.remove(1)
        self.stats.last_reused_tokens = cur

        todo = planned[keep - 1 :]
        self._ctx.check_fits(cur + sum(len(s.tokens) for s, _ in todo) + len(tail.tokens))
        reads: list[tuple[tuple[int, ...], int]] = []  # (tokens, position) decoded apart
        for segment, text in todo:
            if segment.kind == "state":
                key = self._key(head, text)
                placed = self._place(key, prefix, text, cur, build=missing == "build")
                if placed is not None:
                    cur += placed
                    self._segments.append(segment)
                    continue
                segment = _Segment("fresh", segment.tokens)
                self.stats.fresh += 1
            reads.append((segment.tokens, cur))
            cur += len(segment.tokens)
            self._segments.append(segment)
        self._ctx.decode_apart(reads)
        with self.llm.capture.armed():  # the reading is the last prompt token's
            self._ctx.decode(tail.tokens, cur, 0)
        self._segments.append(tail)
        self.stats.last_prompt_tokens = sum(len(t) for t, _ in reads) + len(tail.tokens)
        return cur + len(tail.tokens)
