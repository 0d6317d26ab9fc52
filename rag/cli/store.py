"""``rag store``: the index's store (copy between a folder and PostgreSQL)."""

from __future__ import annotations

import click


@click.group()
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
