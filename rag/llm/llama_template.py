"""The GGUF's chat template, split where the passages go (``rag.llm.llama_states`` decodes the
text before them once and keeps it)."""

from __future__ import annotations

from typing import Any

from rag.errors import ModelError
from rag.prompt import PASSAGES_HEADER

_SENTINEL = "\u0000RAG-PASSAGES\u0000"


class ChatTemplate:
    """The chat template of a loaded llama.cpp model (``llama_cpp.Llama``)."""

    def __init__(self, llama: Any, name: str) -> None:
        """Read the template from ``llama``'s GGUF metadata; ``name`` is the model's, for the
        error when it has none."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{name} has no chat template in its GGUF; use RAG_ANSWER_MODE=full")

        def token_text(token: int) -> str:
            return llama._model.token_get_text(token) if token != -1 else ""

        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(llama.token_eos()),
            bos_token=token_text(llama.token_bos()),
        )

    def split(self, system: str) -> tuple[str, str]:
        """The template's text before and after the passages of a prompt with ``system``: the
        prefix (ending in the passages header) and the template tail."""
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": PASSAGES_HEADER + _SENTINEL},
        ]
        prompt = self._formatter(messages=messages).prompt  # type: ignore[arg-type]
        head, found, tail = prompt.partition(_SENTINEL)
        if not found:
            raise ModelError("the chat template rewrites the user message; use full mode")
        return head, tail
