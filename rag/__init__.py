"""Local, offline question answering over news articles, with checked citations.

>>> from rag import ask
>>> answer = ask("Negara apa saja yang menjadi anggota Aliansi Pasifik?")
>>> answer.text, answer.citations
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Answer", "Citation", "Settings", "ask", "ask_stream"]

if TYPE_CHECKING:
    from rag.answer import Answer, Citation, ask, ask_stream
    from rag.settings import Settings


def __getattr__(name: str) -> Any:
    # Lazy, so `import rag` (and `rag --help`) stays instant.
    if name in {"Answer", "Citation", "ask", "ask_stream", "Sources"}:
        from rag import answer

        return getattr(answer, name)
    if name == "Settings":
        from rag.settings import Settings

        return Settings
    raise AttributeError(name)
