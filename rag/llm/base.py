"""The interface every chat model implements: ``stream(messages, ...)`` yields text pieces."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.types import Message

if TYPE_CHECKING:
    from rag.llm.hidden import Reading
    from rag.prompt import Prompt

CHARS_PER_TOKEN = 3.5


@dataclass(frozen=True)
class Sampling:
    """How an answer is generated: at most ``max_tokens``, at ``temperature``, ending at any of
    the ``stop`` strings."""

    max_tokens: int
    temperature: float
    stop: tuple[str, ...] = ()


class LLM:
    """A chat model. Subclasses implement ``_stream`` and usually ``count_tokens``."""

    name: str = "llm"
    n_ctx: int | None = None  # context window in tokens, when known
    path: Path | None = None  # the local model file, for a backend that runs one

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the answer to ``messages`` (``{"role", "content"}`` dicts) piece by piece.

        Closing the iterator early stops generation. Errors raise ``ModelError``."""
        return self._stream(messages, Sampling(max_tokens, temperature, tuple(stop or ())))

    def _stream(self, messages: list[Message], sampling: Sampling) -> Iterator[str]:
        """What a backend implements: :meth:`stream` with its sampling settings in one value."""
        raise NotImplementedError

    def stream_prompt(
        self, prompt: Prompt, *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the answer to ``prompt`` read in full: its rendered chat messages."""
        return self.stream(prompt.messages(), max_tokens=max_tokens, temperature=temperature)

    def read_hidden(self, names: Sequence[str]) -> bool:
        """Capture these tensors (``rag.llm.hidden.layer_name(n)``, ``LOGITS``) of each
        prompt's reading from now on; ``False`` where the backend cannot (a remote API)."""
        return False

    def reading(self) -> Reading | None:
        """The model's hidden state after reading the last prompt it answered
        (``rag.llm.hidden``); ``None`` where the backend has none."""
        return None

    def first_token(self, text: str) -> int:
        """The id of ``text``'s first token in the model's vocabulary (-1: unknown)."""
        return -1

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (an estimate unless the subclass has the tokenizer)."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def close(self) -> None:
        """Release the model's resources (the object is unusable afterwards)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
