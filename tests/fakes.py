"""Fakes that subclass the real base classes (simonw/llm style)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from rag.llm import LLM, Message


class FakeLLM(LLM):
    """Replies with ``reply(messages)``, streamed word by word; records every prompt."""

    name = "fake"

    def __init__(self, reply: Callable[[list[Message]], str]) -> None:
        self.reply = reply
        self.prompts: list[list[Message]] = []
        self.closed_early = False
        self.split_words = False  # stream pieces that cut words, as real tokens do

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        self.prompts.append(messages)
        pieces = re.findall(r"\S+\s*", self.reply(messages))
        if self.split_words:
            pieces = [half for p in pieces for half in (p[:3], p[3:]) if half]
        finished = False
        try:
            yield from pieces[:max_tokens]
            finished = True
        finally:
            if not finished:
                self.closed_early = True


def passage(messages: list[Message], n: int) -> str:
    """The text of passage [n] in a prompt built by rag.prompt.build_messages."""
    user = messages[-1]["content"]
    match = re.search(
        rf"^\[{n}\](?: \([^)]*\))? (.*?)"
        r"(?=\n\n\[\d+\]|\n\n(?:Previous )?[Qq]uestion|\n\nMost relevant)",
        user,
        re.S | re.M,
    )
    return match.group(1) if match else ""
