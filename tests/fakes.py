"""Fakes that subclass the real base classes (simonw/llm style)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from rag.llm import LLM, Message
from rag.llm.base import Sampling
from rag.prompt import Prompt


class PromptMessages(list[Message]):
    """The chat messages of a :class:`Prompt`, which they keep (``.prompt``) so a fake reply
    can read the passages from the parts instead of parsing the rendered text."""

    def __init__(self, prompt: Prompt) -> None:
        super().__init__(prompt.messages())
        self.prompt = prompt


class FakeLLM(LLM):
    """Replies with ``reply(messages)``, streamed word by word; records every prompt. Prompts
    from ``rag.generate`` arrive as :class:`PromptMessages`."""

    name = "fake"

    def __init__(self, reply: Callable[[list[Message]], str]) -> None:
        self.reply = reply
        self.prompts: list[list[Message]] = []
        self.closed_early = False
        self.split_words = False  # stream pieces that cut words, as real tokens do

    def stream_prompt(
        self, prompt: Prompt, *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        return self.stream(PromptMessages(prompt), max_tokens=max_tokens, temperature=temperature)

    def _stream(self, messages: list[Message], sampling: Sampling) -> Iterator[str]:
        self.prompts.append(messages)
        pieces = re.findall(r"\S+\s*", self.reply(messages))
        if self.split_words:
            pieces = [half for p in pieces for half in (p[:3], p[3:]) if half]
        finished = False
        try:
            yield from pieces[: sampling.max_tokens]
            finished = True
        finally:
            if not finished:
                self.closed_early = True


def passage(messages: list[Message], n: int) -> str:
    """The text of passage [n] of the prompt ``messages`` were rendered from."""
    assert isinstance(messages, PromptMessages), "messages without their Prompt"
    return messages.prompt.hits[n - 1].text


def quoting_ask(read_s: float, piece: int, delay: float) -> Callable[..., Iterator[Any]]:
    """An ``ask_stream`` stand-in with real retrieval and scripted generation: after
    ``read_s`` seconds (the model reading the prompt) the answer quotes the top passage's
    first sentence and cites it as [1], streamed ``piece`` characters every ``delay`` s."""

    def ask(
        question: str, history: list[dict[str, str]] | None = None, **overrides: Any
    ) -> Iterator[Any]:
        from rag.answer import Answer, Citation, Sources
        from rag.retrieve import search
        from rag.settings import get_settings

        settings = get_settings(**overrides)
        hits = search(question, settings, k=settings.k)
        yield Sources(hits)
        time.sleep(read_s)
        top = hits[0]
        quote = top.text[: (top.text.find(". ") + 1) or len(top.text)]
        text = f"{quote} [1]"
        for i in range(0, len(text), piece):
            time.sleep(delay)
            yield text[i : i + piece]
        cite = Citation(
            1,
            top.doc_id,
            top.title,
            top.chunk_id,
            top.start,
            top.start + len(quote),
            quote,
            top.url,
            top.date,
        )
        yield Answer(question=question, text=text, citations=[cite], sources=hits)

    return ask
