"""``rag store copy``: move an index between stores (folder <-> PostgreSQL) as it is: documents,
texts, chunks with their tokens and metadata, and vectors. Nothing is embedded again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.store import is_database_url, open_store, open_writer
from rag.store.base import WritePlan

if TYPE_CHECKING:
    from rag.settings import Settings
    from rag.store.base import IndexData


@dataclass
class CopySummary:
    """What a copy moved and how long it took."""

    documents: int
    chunks: int
    seconds: float
    target: str

    def line(self) -> str:
        """A one-line human summary."""
        rate = self.chunks / self.seconds if self.seconds else 0.0
        return (
            f"copied {self.documents} documents, {self.chunks} chunks to {self.target} "
            f"in {self.seconds:.1f} s ({rate:.0f} chunks/s), nothing embedded"
        )


def copy_store(source: str, target: str, settings: Settings) -> CopySummary:
    """Copy the index at ``source`` to ``target`` (each a folder or a ``postgresql://`` URL),
    replacing what ``target`` held, in one transaction or one folder swap."""
    started = time.perf_counter()
    data = open_store(source).export()
    write_data(data, settings.merged(store=target))
    if is_database_url(target):
        from rag.store.postgres.schema import redact

        shown = redact(target)
    else:
        shown = f"{target}/"
    return CopySummary(len(data.docs), len(data.rows), time.perf_counter() - started, shown)


def write_data(data: IndexData, settings: Settings) -> None:
    """Replace the content of the store ``settings`` select by ``data``: every content is
    written with its chunks, tokens and vectors as they are (the folder's FAISS kind is chosen
    by ``settings``, PostgreSQL's vector type too)."""
    import numpy as np

    plan = WritePlan(
        docs=dict(data.docs),
        fresh=set(data.texts) | {d.hash for d in data.docs.values()},
        texts=dict(data.texts),
        rows=list(data.rows),
        vectors=np.asarray(data.vectors, dtype=np.float32),
        embed_model=data.embed_model,
        dim=data.dim,
        chunk_size=data.chunk_size,
        chunk_overlap=data.chunk_overlap,
    )
    with open_writer(settings, rebuild=True) as writer:
        writer.apply(plan)
