"""A chat turn (ui.turn): how the events of ask_stream fill it in, which passages it shows,
the history of a follow-up, and errors kept to one line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rag.errors import ModelError
from rag.types import Answer, Citation, Hit, Sources
from ui.turn import Status, Turn, history, next_id, stream_turn

HITS = [Hit(f"d.txt#{i}", "d.txt", f"teks {i}", 0, 6, 1.0) for i in range(3)]
CITE = Citation(2, "d.txt", "T", "d.txt#1", 0, 4, "teks")


def _ask(*events: object, fail: BaseException | None = None) -> Any:
    calls: list[dict[str, Any]] = []

    def ask(question: str, history: list[dict[str, str]] | None = None, **kw: Any) -> Iterator[Any]:
        calls.append({"question": question, "history": history, **kw})
        yield from events
        if fail is not None:
            raise fail

    ask.calls = calls  # type: ignore[attr-defined]
    return ask


def test_events_fill_the_turn_in_order() -> None:
    answer = Answer(question="q", text="Jawaban [2].", citations=[CITE], sources=HITS)
    ask = _ask(Sources(HITS), "Jawa", "ban", answer)
    turn = Turn(1, "q")
    seen = []
    for kind in stream_turn(turn, ask, [{"role": "user", "content": "x"}], {"k": 3}):
        seen.append((kind, turn.status))
    assert seen == [
        ("sources", Status.READING),
        ("text", Status.STREAMING),
        ("text", Status.STREAMING),
        ("answer", Status.DONE),
        ("end", Status.DONE),
    ]
    assert turn.text == "Jawaban [2]." and turn.citations == [CITE]
    assert turn.to_answer() is answer
    assert ask.calls == [{"question": "q", "history": [{"role": "user", "content": "x"}], "k": 3}]


def test_only_cited_passages_once_answered_unless_all_asked() -> None:
    turn = Turn(1, "q", Status.STREAMING, hits=HITS, citations=[CITE])
    assert turn.shown_numbers(False) == [1, 2, 3]  # while answering, every passage
    turn.status = Status.DONE
    assert turn.shown_numbers(False) == [2]
    assert turn.shown_numbers(True) == [1, 2, 3]
    turn.status = Status.REFUSED
    assert turn.shown_numbers(False) == [1, 2, 3]  # what was searched stays visible


def test_a_stream_without_an_answer_ends_done_and_rebuilds_it() -> None:
    turn = Turn(4, "q")
    list(stream_turn(turn, _ask(Sources([]), "teks"), [], {}))
    assert turn.status is Status.DONE
    answer = turn.to_answer()
    assert (answer.question, answer.text, answer.sources, answer.refused) == (
        "q",
        "teks",
        [],
        False,
    )
    assert answer.to_dict()["text"] == "teks"


def test_refusal_is_recorded() -> None:
    turn = Turn(1, "q")
    list(stream_turn(turn, _ask(Answer(question="q", text="Maaf.", refused=True)), [], {}))
    assert turn.status is Status.REFUSED and turn.to_answer().refused


def test_rag_error_keeps_its_first_line_and_a_crash_only_its_type() -> None:
    turn = Turn(1, "q")
    kinds = list(stream_turn(turn, _ask(fail=ModelError("no model file\ntraceback")), [], {}))
    assert kinds == ["end"]
    assert (turn.status, turn.error, turn.crash) == (Status.ERROR, "no model file", "")
    turn = Turn(2, "q")
    list(stream_turn(turn, _ask(Sources(HITS), fail=ValueError("secret")), [], {}))
    assert (turn.status, turn.error, turn.crash) == (Status.ERROR, "", "ValueError")


def test_closing_early_closes_the_answer_stream() -> None:
    closed = []

    def ask(question: str, **_: Any) -> Iterator[Any]:
        try:
            yield Sources(HITS)
            yield "a"
        finally:
            closed.append(True)

    turn = Turn(1, "q")
    stream = stream_turn(turn, ask, [], {})
    assert next(stream) == "sources"
    stream.close()  # the person started a new conversation
    assert closed == [True]


def test_history_holds_finished_turns_only() -> None:
    turns = [
        Turn(1, "satu", Status.DONE, text="jawab satu"),
        Turn(2, "dua", Status.ERROR, error="x"),
        Turn(3, "tiga", Status.REFUSED, text="maaf"),
        Turn(5, "empat", Status.QUEUED),
    ]
    assert history(turns) == [
        {"role": "user", "content": "satu"},
        {"role": "assistant", "content": "jawab satu"},
        {"role": "user", "content": "tiga"},
        {"role": "assistant", "content": "maaf"},
    ]
    assert next_id(turns) == 6 and next_id([]) == 1
