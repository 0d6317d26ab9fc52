"""The interface every chat model implements: ``stream(messages, ...)`` yields text pieces."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rag.types import Message

if TYPE_CHECKING:
    from rag.prompt import Prompt

CHARS_PER_TOKEN = 3.5


class LLM:
    """A chat model. Subclasses implement ``stream`` and usually ``count_tokens``."""

    name: str = "llm"
    n_ctx: int | None = None  # context window in tokens, when known

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
        raise NotImplementedError

    def stream_prompt(
        self, prompt: Prompt, *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the answer to ``prompt`` read in full: its rendered chat messages."""
        return self.stream(prompt.messages(), max_tokens=max_tokens, temperature=temperature)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (an estimate unless the subclass has the tokenizer)."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def close(self) -> None:
        """Release the model's resources (the object is unusable afterwards)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
