"""``rag ingest``, ``rag remove``, ``rag docs``: the indexed articles."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rag.cli.base import index_option, settings_of


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH_OR_URL...")
@index_option
@click.option("--prune", is_flag=True, help="Drop indexed documents not found in PATHS.")
@click.option("--rebuild", is_flag=True, help="Ignore the existing index and build anew.")
@click.option("--chunk-size", type=int, help="Chunk length in characters (RAG_CHUNK_SIZE).")
@click.option(
    "--index-type", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), help="FAISS index kind."
)
@click.option("--embed-model", help="Embedder (RAG_EMBED_MODEL).")
@click.option(
    "--warm",
    is_flag=True,
    help="Also compute every passage's LLM state (fast first token), leaving out the sentences "
    "the model reads as instructions to it.",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[str, ...],
    index_dir: Path | None,
    prune: bool,
    rebuild: bool,
    chunk_size: int | None,
    index_type: str | None,
    embed_model: str | None,
    warm: bool,
) -> None:
    """Index articles: .txt .md .html .pdf .docx files, folders of them, .jsonl records, or
    http(s) links to web pages (fetched; the link is the document's id)."""
    from tqdm import tqdm

    from rag.ingest import ingest as run_ingest

    settings = settings_of(
        ctx,
        index_dir=index_dir,
        chunk_size=chunk_size,
        index_type=index_type,
        embed_model=embed_model,
    )
    bar: dict[str, tqdm] = {}

    def progress(done: int, total: int, stage: str) -> None:
        if stage != "embedding" or total == 0:
            return
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc="Embedding", unit="chunk", file=sys.stderr)
        bar["bar"].n = done
        bar["bar"].refresh()

    try:
        summary = run_ingest(list(paths), settings, prune=prune, rebuild=rebuild, progress=progress)
    finally:
        if "bar" in bar:
            bar["bar"].close()
    click.echo(summary.line())
    if warm:
        from rag.generate import warm_index

        with tqdm(desc="Passage states", unit="passage", file=sys.stderr) as states:

            def step(done: int, total: int) -> None:
                states.total = total
                states.n = done
                states.refresh()

            built, total, screened = warm_index(settings, progress=step)
        click.echo(f"passage states: {built} computed, {total - built} already stored")
        if screened:
            click.echo(
                f"! {screened} sentence(s) read as instructions to the assistant: left out of "
                "what the model reads, shown in the sources"
            )


@click.command()
@click.argument("ids", nargs=-1, required=True)
@index_option
@click.pass_context
def remove(ctx: click.Context, ids: tuple[str, ...], index_dir: Path | None) -> None:
    """Remove documents from the index by id."""
    from rag.ingest import remove as run_remove

    click.echo(run_remove(list(ids), settings_of(ctx, index_dir=index_dir)).line())


@click.command()
@index_option
@click.pass_context
def docs(ctx: click.Context, index_dir: Path | None) -> None:
    """List the indexed documents."""
    from rag.library import Library
    from rag.retrieve import get_index

    settings = settings_of(ctx, index_dir=index_dir)
    get_index(settings)  # a missing or broken index is an error here, not an empty list
    for d in Library(settings).documents():
        note = f"\t! {d.instructions} sentence(s) instruct the assistant" if d.instructions else ""
        click.echo(f"{d.id}\t{d.date or '-'}\t{d.chunks} chunks\t{d.title}{note}")
