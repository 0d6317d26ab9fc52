"""The types every stage shares: a retrieved passage, a chat message, a checked citation and
the answer ``ask()`` returns."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": ...}``."""


@dataclass
class Hit:
    """One retrieved passage: the chunk, where it sits in its document, and how it scored."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    score: float
    title: str = ""
    url: str | None = None
    date: str | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    page: int | None = None  # the page (from 1) of a paged document (a PDF), else None
    # Sentences the model's own reading flagged as instructions to it (rag.screen).
    screened: tuple[str, ...] = ()

    @property
    def instructions(self) -> list[str]:
        """The sentences of its title and text that speak to the assistant: shown with the
        passage, never given to the model (:func:`rag.instructions.instructions_of`)."""
        from rag.instructions import instructions_of

        return instructions_of(self.title, self.text, self.screened)


@dataclass
class Citation:
    """A checked citation: passage [n] and the exact span of its document that supports the
    sentence citing it (``start``/``end`` are offsets in the document's cleaned text)."""

    n: int
    doc_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    quote: str
    url: str | None = None
    date: str | None = None
    page: int | None = None  # the page (from 1) of a paged document (a PDF), else None


@dataclass
class Sources:
    """First event of a stream: the passages given to the model, numbered from 1."""

    hits: list[Hit]


@dataclass
class Answer:
    """The final answer with its citations, the passages it was given and its timings."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    sources: list[Hit] = field(default_factory=list)
    refused: bool = False
    retrieve_s: float = 0.0
    first_token_s: float = 0.0  # until the first word was shown (a re-read keeps it)
    model_first_s: float = 0.0  # until the model's first token (words restating the question
    # are held back, so the first word can come later)
    total_s: float = 0.0
    tokens: int = 0
    search_query: str = ""
    model_text: str = ""
    # Who refused: "evidence" (before the model), "probe" (after the model read the prompt,
    # before it wrote), "model" (its reply); "" for an answer.
    refused_by: str = ""
    lacks_answer_p: float | None = None  # the probe's P(the passages lack the answer)

    def says_else_than(self, shown: str) -> bool:
        """Whether this checked answer says something else than ``shown``, the text streamed
        while the model wrote (a sentence dropped, a refusal, an answer read again), so a
        client that cannot replace text must show this one after it. Citation numbers,
        punctuation, spacing and case do not count."""
        return _plain(self.text) != _plain(shown)

    def to_dict(self) -> dict[str, Any]:
        """The answer as plain JSON-ready data: what ``rag ask --json`` prints and the web
        API returns."""
        return asdict(self)


def _plain(text: str) -> str:
    return re.sub(r"\W+", "", re.sub(r"\[\d+\]", "", text)).lower()
