"""One question and its answer as the chat holds it (per session, in ``gr.State``), and how the
events of ``rag.answer.ask_stream`` fill it in.

No answering happens here: the events come from ``rag``; a :class:`Turn` only records them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rag.errors import RagError, first_line
from rag.types import Answer, Citation, Hit, Message, Sources

log = logging.getLogger(__name__)

AskFn = Callable[..., Iterable[Any]]
"""``rag.answer.ask_stream`` or a stand-in: ``(question, history=..., **settings)`` yielding
``Sources``, then text pieces (``str``), then the final ``Answer``."""


class Status(str, Enum):
    """Where a turn stands, from waiting in the queue to its final answer."""

    QUEUED = "queued"  # shown, waiting for its place in the answer queue
    SEARCHING = "searching"  # looking for passages
    READING = "reading"  # the model is reading the passages it was given
    STREAMING = "streaming"  # the answer is arriving
    DONE = "done"
    REFUSED = "refused"  # the articles hold no answer
    ERROR = "error"

    @property
    def waiting(self) -> bool:
        """Nothing found yet (queued or searching)."""
        return self in (Status.QUEUED, Status.SEARCHING)

    @property
    def finished(self) -> bool:
        """An answer or a refusal was given."""
        return self in (Status.DONE, Status.REFUSED)

    @property
    def shows_all_passages(self) -> bool:
        """Every passage is shown (not only the cited ones): while answering, and on refusal."""
        return self not in (Status.DONE, Status.ERROR)


@dataclass
class Turn:
    """A question, the passages given for it, the answer text so far and its citations."""

    id: int
    question: str
    status: Status = Status.SEARCHING
    text: str = ""
    hits: list[Hit] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    error: str = ""  # a RagError's first line, shown as it is
    crash: str = ""  # the type of an unexpected exception (its message is not shown)
    answer: Answer | None = None

    def shown_numbers(self, show_all: bool) -> list[int]:
        """The passage numbers (from 1) to show: all of them, or only the cited ones once the
        answer is final and ``show_all`` is off."""
        numbers = list(range(1, len(self.hits) + 1))
        if show_all or self.status.shows_all_passages:
            return numbers
        cited = {c.n for c in self.citations}
        return [n for n in numbers if n in cited]

    def apply(self, event: object) -> str | None:
        """Record one event of the answer stream; returns its kind (``sources``, ``text`` or
        ``answer``), or None for an event it does not know."""
        if isinstance(event, Sources):
            self.hits = list(event.hits)
            self.status = Status.READING if self.hits else Status.SEARCHING
            return "sources"
        if isinstance(event, str):
            self.text += event
            self.status = Status.STREAMING
            return "text"
        if isinstance(event, Answer):
            self.text = event.text
            self.citations = list(event.citations)
            if event.sources:
                self.hits = list(event.sources)
            self.status = Status.REFUSED if event.refused else Status.DONE
            self.answer = event
            return "answer"
        return None

    def to_answer(self) -> Answer:
        """The final answer (as ``rag`` gave it, or rebuilt from the events when the stream
        ended without one)."""
        if self.answer is not None:
            return self.answer
        return Answer(
            question=self.question,
            text=self.text,
            citations=list(self.citations),
            sources=list(self.hits),
            refused=self.status is Status.REFUSED,
        )


def kept(turns: Sequence[Turn]) -> list[Answer]:
    """The finished answers of ``turns``: what a saved or exported conversation holds."""
    return [t.to_answer() for t in turns if t.status.finished and t.text]


def restored(answers: Sequence[Answer]) -> list[Turn]:
    """Turns showing ``answers`` again (a conversation kept in the browser)."""
    turns = [Turn(i, a.question) for i, a in enumerate(answers, 1)]
    for turn, answer in zip(turns, answers, strict=True):
        turn.apply(answer)
    return turns


def next_id(turns: Sequence[Turn]) -> int:
    """The id of a new turn after ``turns`` (ids start at 1 and name passage anchors)."""
    return max((t.id for t in turns), default=0) + 1


def history(turns: Sequence[Turn]) -> list[Message]:
    """The finished question/answer pairs of ``turns`` as chat messages for a follow-up."""
    messages: list[Message] = []
    for turn in turns:
        if turn.status.finished and turn.text:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": turn.text})
    return messages


def stream_turn(
    turn: Turn, ask: AskFn, past: list[Message], settings: dict[str, Any]
) -> Iterator[str]:
    """Fill ``turn`` from ``ask``'s events, yielding the kind of each change and ``end`` last.

    A ``RagError`` becomes a one-line error on the turn; any other exception is logged and
    shown only by its type."""
    events: Any = None
    try:
        events = ask(turn.question, history=past, **settings)
        for event in events:
            kind = turn.apply(event)
            if kind is not None:
                yield kind
        if not turn.status.finished:
            turn.status = Status.DONE
    except RagError as exc:
        turn.status, turn.error = Status.ERROR, first_line(exc)
    except Exception as exc:
        log.exception("answering %r failed", turn.question)
        turn.status, turn.crash = Status.ERROR, type(exc).__name__
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    yield "end"
