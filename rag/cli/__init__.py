"""The ``rag`` command: a thin click layer over the library. Errors print one line, no traceback.

One module a command group: :mod:`~rag.cli.articles` (ingest, remove, docs), :mod:`~rag.cli.ask`
(search, ask, chat), :mod:`~rag.cli.eval`, :mod:`~rag.cli.models`, :mod:`~rag.cli.serve`,
:mod:`~rag.cli.store` and :mod:`~rag.cli.gate`; :mod:`~rag.cli.base` holds the group and the
shared options. Each command imports what it runs only when it runs, so ``rag --help`` is
instant.
"""

from __future__ import annotations

from rag.cli.articles import docs, ingest, remove
from rag.cli.ask import ask, chat, search
from rag.cli.base import cli, index_option, k_option, model_option
from rag.cli.eval import eval_cmd
from rag.cli.gate import gate
from rag.cli.models import models
from rag.cli.serve import serve
from rag.cli.store import store

for _command in (ingest, remove, docs, search, eval_cmd, ask, chat, models, serve, store, gate):
    cli.add_command(_command)

__all__ = ["cli", "index_option", "k_option", "main", "model_option"]


def main() -> None:
    """Console entry point."""
    cli(prog_name="rag")
