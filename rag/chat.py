"""The terminal side: print a streamed answer with its sources, and the ``rag chat`` REPL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from rag import conversation
from rag.answer import Answer, Sources, ask_stream
from rag.errors import RagError

HELP = """Commands:
  /sources  show the passages of the last answer, with their quotes
  /reset    forget the conversation
  /save F   save the conversation to file F (F.md: Markdown with the quoted sources)
  /load F   go on with a conversation saved by /save
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
    if final is not None and final.says_else_than(printed):
        if printed:
            echo("")
        echo(final.text, nl=False)
    echo("")
    return final


def repl(
    settings: dict[str, Any],
    read: Callable[[str], str] = input,
    echo: Callable[..., Any] = click.echo,
) -> None:
    """Read questions until /exit or end of input; keep the conversation for follow-ups."""
    answers: list[Answer] = []
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
            if line.split()[0].lower() in {"/exit", "/quit"}:
                return
            try:
                command(line, answers, echo)
            except RagError as exc:
                echo(f"Error: {exc}")
            continue
        try:
            answer = stream_answer(
                ask_stream(line, conversation.history(answers), **settings), echo
            )
        except RagError as exc:
            echo(f"Error: {exc}")
            continue
        if answer is not None:
            answers.append(answer)


def command(line: str, answers: list[Answer], echo: Callable[..., Any] = click.echo) -> None:
    """Run one REPL command (``/reset``, ``/sources``, ``/save F``, ``/load F``, ``/help``) on
    the conversation ``answers``, changing it in place."""
    name, _, arg = line.partition(" ")
    name, arg = name.lower(), arg.strip()
    if name == "/reset":
        answers.clear()
        echo("Conversation cleared.")
    elif name == "/sources":
        if answers:
            print_sources(answers[-1], echo)
        else:
            echo("No answer yet.")
    elif name in {"/save", "/load"} and not arg:
        echo(f"Give a file: {name} conversation.json")
    elif name == "/save":
        path = conversation.save(Path(arg).expanduser(), answers)
        echo(f"Saved {len(answers)} answer(s) to {path}.")
    elif name == "/load":
        answers[:] = conversation.load(Path(arg).expanduser())
        echo(f"Loaded {len(answers)} answer(s); follow-up questions go on from the last one.")
    elif name == "/help":
        echo(HELP)
    else:
        echo(f"Unknown command {name}. {HELP}")
