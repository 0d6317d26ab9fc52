"""What every ``rag`` command shares: the group (one-line errors, no traceback), the settings
it carries and the common options."""

from __future__ import annotations

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


def settings_of(ctx: click.Context, **overrides: Any) -> Settings:
    """The settings of the run, with the options given (None: unset) over them."""
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
