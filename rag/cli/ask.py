"""``rag search``, ``rag ask``, ``rag chat``: passages and answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from rag.cli.base import index_option, k_option, model_option, settings_of


@click.command()
@click.argument("query")
@index_option
@k_option
@click.option("--fusion", type=click.Choice(["rrf", "weighted"]), help="Score fusion.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    index_dir: Path | None,
    k: int | None,
    fusion: str | None,
    as_json: bool,
) -> None:
    """Print the passages ranked for QUERY."""
    from dataclasses import asdict

    from rag.retrieve import search as run_search

    settings = settings_of(ctx, index_dir=index_dir, k=k, fusion=fusion)
    hits = run_search(query, settings, k=settings.k if k else 5)
    if as_json:
        click.echo(json.dumps([asdict(h) for h in hits], ensure_ascii=False, indent=1))
        return
    for n, hit in enumerate(hits, 1):
        where = f"p. {hit.page}  chars" if hit.page else "chars"
        click.secho(
            f"[{n}] {hit.score:.4f}  {hit.chunk_id}  {where} {hit.start}-{hit.end}  {hit.title}",
            bold=True,
        )
        click.echo(f"    {hit.text}\n")


def _answer_overrides(ctx: click.Context, **given: Any) -> dict[str, Any]:
    return settings_of(ctx, **given).model_dump()


@click.command()
@click.argument("question")
@index_option
@k_option
@model_option
@click.option("--backend", type=click.Choice(["llama", "openai"]), help="LLM backend.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole Answer as JSON.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    index_dir: Path | None,
    k: int | None,
    model: str | None,
    backend: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the articles, streaming, then list the sources."""
    from rag.answer import Answer, ask_stream
    from rag.chat import print_sources, stream_answer

    overrides = _answer_overrides(ctx, index_dir=index_dir, k=k, model=model, backend=backend)
    events = ask_stream(question, None, **overrides)
    if as_json:
        answer = [e for e in events if isinstance(e, Answer)][-1]
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
        return
    answer = stream_answer(events)
    if answer is not None:
        click.echo("")
        print_sources(answer)


@click.command()
@index_option
@k_option
@model_option
@click.option("--backend", type=click.Choice(["llama", "openai"]), help="LLM backend.")
@click.pass_context
def chat(
    ctx: click.Context,
    index_dir: Path | None,
    k: int | None,
    model: str | None,
    backend: str | None,
) -> None:
    """A conversation in the terminal: follow-up questions, /sources, /reset, /help, /exit."""
    from rag.chat import repl

    repl(_answer_overrides(ctx, index_dir=index_dir, k=k, model=model, backend=backend))
