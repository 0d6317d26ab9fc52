"""``rag eval``: retrieval (and answers) measured on a question set."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rag.cli.base import index_option, k_option, model_option, settings_of


@click.command(name="eval")
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

    settings = settings_of(ctx, index_dir=index_dir, k=k, model=model, fusion=fusion)
    result = run_eval(
        questions, settings, retrieval_only=retrieval_only, limit=limit, mode=mode, log=click.echo
    )
    click.echo(json.dumps(result, indent=1))
    if json_out:
        json_out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
