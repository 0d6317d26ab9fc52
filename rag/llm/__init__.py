"""Chat models behind one small interface: ``LLM.stream(messages, ...)`` yields text pieces.

* :class:`LlamaCppLLM` (``rag.llm.llama``) runs a GGUF model in process with llama-cpp-python;
  ``rag.llm.llama_states`` answers on it from stored per-passage KV states.
* :class:`OpenAILLM` (``rag.llm.openai``) streams from any OpenAI-compatible
  ``/chat/completions`` endpoint through the ``openai`` client.

``get_llm(settings)`` returns a shared, already loaded instance for the settings. Heavy
libraries (llama_cpp, openai) load only when a model is created.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from rag.llm.base import LLM
from rag.llm.llama import LlamaCppLLM
from rag.llm.openai import OpenAILLM
from rag.types import Message

if TYPE_CHECKING:
    from rag.settings import Settings

__all__ = ["LLM", "LlamaCppLLM", "Message", "OpenAILLM", "get_llm"]

_CACHE: dict[tuple[Any, ...], LLM] = {}
_CACHE_LOCK = threading.Lock()


def get_llm(settings: Settings) -> LLM:
    """The shared model for ``settings``, loaded on first use (thread-safe).

    Built-in models are assembled and verified first (see ``rag.models.resolve_model``)."""
    with _CACHE_LOCK:
        if settings.backend == "openai":
            key: tuple[Any, ...] = (
                "openai",
                settings.openai_base_url.rstrip("/"),
                settings.openai_model,
                settings.openai_api_key,
                settings.openai_timeout,
            )
        else:
            from rag.models import resolve_model

            path = resolve_model(settings).resolve()
            key = ("llama", str(path), settings.n_ctx, settings.n_threads, settings.n_batch)
        llm = _CACHE.get(key)
        if llm is None:
            if key[0] == "openai":
                llm = OpenAILLM(
                    settings.openai_base_url,
                    model=settings.openai_model,
                    api_key=settings.openai_api_key,
                    timeout=settings.openai_timeout,
                )
            else:
                llm = LlamaCppLLM(
                    path,
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads,
                    n_batch=settings.n_batch,
                )
            _CACHE[key] = llm
        return llm
