"""``rag serve``: the browser chat and the OpenAI-compatible API."""

from __future__ import annotations

from pathlib import Path

import click

from rag.cli.base import index_option, model_option, settings_of


@click.command()
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

    settings = settings_of(
        ctx, index_dir=index_dir, host=host, port=port, model=model, insecure=insecure
    )
    Policy.from_settings(settings).check_start(settings.host)  # before the app loads
    launch(settings)
