"""Compatibility name only: ``rag.cli`` imports :func:`warm_index` from here. Generation lives
in ``rag.generate``, the state store in ``rag.states``, the llama.cpp state path in
``rag.llm.llama_states``."""

from rag.generate import warm_index

__all__ = ["warm_index"]
