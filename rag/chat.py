"""The terminal side: print a streamed answer with its sources, and the ``rag chat`` REPL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import click

from rag.answer import Answer, Sources, ask_stream
from rag.errors import RagError

HELP = """Commands:
  /sources  show the passages of the last answer, with their quotes
  /reset    forget the conversation
  /help     this help
  /exit     leave (or Ctrl-D); Ctrl-C stops the answer being written"""


def print_sources(answer: Answer, echo: Callable[..., Any] = click.echo) -> None:
    """List the cited passages with their quotes (or the passages given, when none is cited)."""
    if answer.refused:
        echo("(refused: no passage holds the answer)")
        return
    if not answer.citations:
        echo("(no citations)")
    for c in answer.citations:
        page = f" p. {c.page}" if c.page else ""
        where = f"{c.doc_id}{page} chars {c.start}-{c.end}"
        echo(click.style(f"[{c.n}] {c.title} — {where}", bold=True))
        echo(f'    "{c.quote}"')


def stream_answer(
    events: Iterator[Sources | str | Answer], echo: Callable[..., Any] = click.echo
) -> Answer | None:
    """Print text pieces as they come; return the final Answer (None when interrupted)."""
    final: Answer | None = None
    printed = ""
    try:
        for event in events:
            if isinstance(event, str):
                printed += event
                echo(event, nl=False)
            elif isinstance(event, Answer):
                final = event
    except KeyboardInterrupt:
        close = getattr(events, "close", None)
        if close:
            close()
        echo("\n[stopped]")
        return None
    if final is not None and _plain(final.text) != _plain(printed):
        # The checked answer says something else than the raw stream (a refusal): show it.
        if printed:
            echo("")
        echo(final.text, nl=False)
    echo("")
    return final


def _plain(text: str) -> str:
    """Text without citation markers, punctuation spacing or case: what a reader compares."""
    return re.sub(r"\W+", "", re.sub(r"\[\d+\]", "", text)).lower()


def repl(
    settings: dict[str, Any],
    read: Callable[[str], str] = input,
    echo: Callable[..., Any] = click.echo,
) -> None:
    """Read questions until /exit or end of input; keep the conversation for follow-ups."""
    history: list[dict[str, str]] = []
    last: Answer | None = None
    echo("Ask about the articles. /help for commands, Ctrl-D to leave.")
    while True:
        try:
            line = read("> ").strip()
        except EOFError:
            echo("")
            return
        except KeyboardInterrupt:
            echo("")
            continue
        if not line:
            continue
        if line.startswith("/"):
            command = line.split()[0].lower()
            if command in {"/exit", "/quit"}:
                return
            if command == "/reset":
                history.clear()
                last = None
                echo("Conversation cleared.")
            elif command == "/sources":
                if last is None:
                    echo("No answer yet.")
                else:
                    print_sources(last, echo)
            elif command == "/help":
                echo(HELP)
            else:
                echo(f"Unknown command {command}. {HELP}")
            continue
        try:
            answer = stream_answer(ask_stream(line, history, **settings), echo)
        except RagError as exc:
            echo(f"Error: {exc}")
            continue
        if answer is not None:
            last = answer
            history += [
                {"role": "user", "content": line},
                {"role": "assistant", "content": answer.text},
            ]
