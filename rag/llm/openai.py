"""A model behind an OpenAI-compatible ``/chat/completions`` endpoint (llama.cpp's server, vLLM,
Ollama, ...), streamed through the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rag.errors import ModelError
from rag.llm.base import LLM, Sampling
from rag.types import Message


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible API (``POST {base_url}/chat/completions``)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        api_key: str = "none",
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
    ) -> None:
        """``base_url`` includes the version prefix, e.g. ``http://127.0.0.1:8000/v1``;
        ``timeout`` bounds each wait for data (a long prompt on a CPU can take a while)."""
        import openai

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{model}@{self.base_url}"
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key,
            timeout=openai.Timeout(timeout, connect=connect_timeout),
            max_retries=0,  # a retry after a long timeout only doubles the wait
        )
        self._tokenizer_url: str | None | bool = None  # None: not probed yet, False: none found

    def _stream(self, messages: list[Message], sampling: Sampling) -> Iterator[str]:
        """Stream the answer from the server; closing the iterator closes the connection."""
        import openai

        url = f"{self.base_url}/chat/completions"
        try:
            chunks = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                stop=list(sampling.stop) or None,
                stream=True,
            )
            with chunks:
                for chunk in chunks:
                    delta = getattr(chunk.choices[0], "delta", None) if chunk.choices else None
                    text = getattr(delta, "content", None)
                    if text:
                        yield text
        except openai.APITimeoutError as exc:
            raise ModelError(
                f"remote model at {url} timed out ({type(exc.__cause__ or exc).__name__}); check "
                "that the server is not overloaded, or use a smaller model"
            ) from exc
        except openai.APIConnectionError as exc:
            reason = _one_line(str(exc.__cause__ or exc)) or type(exc).__name__
            raise ModelError(
                f"cannot reach the remote model at {url} ({reason[:120]}); "
                "check that the server runs and RAG_OPENAI_BASE_URL"
            ) from exc
        except openai.APIStatusError as exc:
            raise ModelError(
                f"remote model at {url} answered HTTP {exc.status_code}"
                f"{_error_detail(exc.body)}; check RAG_OPENAI_BASE_URL and RAG_OPENAI_MODEL"
            ) from exc
        except openai.APIError as exc:  # an error event inside the stream
            raise ModelError(f"remote model at {url} failed{_error_detail(exc.body)}") from exc
        except ValueError as exc:  # an event that is not JSON
            raise ModelError(
                f"remote model at {url} sent a malformed event ({_one_line(str(exc))[:80]}); "
                "check that RAG_OPENAI_BASE_URL is an OpenAI-compatible API"
            ) from exc

    def count_tokens(self, text: str) -> int:
        """Exact count from the server's tokenizer endpoint when it has one (llama.cpp's
        servers do), else ``len(text) / 3.5``."""
        if not text:
            return 0
        if self._tokenizer_url is None:
            self._tokenizer_url = self._probe_tokenizer()
        if isinstance(self._tokenizer_url, str):
            count = self._remote_count(self._tokenizer_url, text)
            if count is not None:
                return count
        return super().count_tokens(text)

    def _probe_tokenizer(self) -> str | bool:
        root = self.base_url.removesuffix("/v1")
        for url in (f"{root}/extras/tokenize/count", f"{root}/tokenize"):
            if self._remote_count(url, "probe") is not None:
                return url
        return False

    def _remote_count(self, url: str, text: str) -> int | None:
        import openai

        body: dict[str, str] = {"model": self.model}
        if url.endswith("/count"):
            body["input"] = text
        else:  # llama.cpp's llama-server reads "content", vLLM "prompt"
            body.update(content=text, prompt=text)
        try:
            data: Any = self._client.with_options(timeout=10.0).post(url, cast_to=object, body=body)
        except (openai.APIError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("count"), int):
            return int(data["count"])
        if isinstance(data.get("tokens"), list):
            return len(data["tokens"])
        return None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_detail(body: object) -> str:
    """``": <the server's message>"`` from an error body (JSON or text), or ``""``."""
    err = body.get("error", body.get("detail", body)) if isinstance(body, dict) else body
    text = err.get("message", err) if isinstance(err, dict) else err
    text = _one_line(str(text)) if text is not None else ""
    return f": {text[:160]}" if text else ""
