"""Model faults: a truncated GGUF file, and an OpenAI-compatible server that answers 500, is too
slow, or sends a broken stream. Each is one line that says what to do, and the served app keeps
answering once the model is back."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ModelError
from rag.llm import LlamaCppLLM, OpenAILLM, get_llm
from rag.settings import Settings, get_settings
from tests.localsite import running

QUESTION = [{"role": "user", "content": "Siapa anggota Aliansi Pasifik?"}]


class FlakyModel:
    """A local OpenAI-compatible server whose behaviour a test switches: ``ok`` streams a fixed
    answer, ``500`` fails, ``slow`` waits before any byte, ``broken`` sends an event that is not
    JSON. Other paths (tokenizer probes) get 404."""

    ANSWER = "Anggotanya Chile, Kolombia, Meksiko dan Peru [1]."

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 3.0
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                flaky.reply(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = contextlib.ExitStack()
        self.url = self._server.enter_context(running(Handler)) + "/v1"

    def reply(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one chat request the way :attr:`mode` says."""
        if self.mode == "500":
            body = json.dumps({"error": {"message": "CUDA out of memory"}}).encode()
            handler.send_response(500)
            handler.send_header("Content-Type", "application/json")
        else:
            if self.mode == "slow":
                time.sleep(self.delay)
            if self.mode == "broken":
                body = b"data: {not json\n\n"
            else:
                chunk = {"choices": [{"index": 0, "delta": {"content": self.ANSWER}}]}
                body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout)
            handler.wfile.write(body)

    def close(self) -> None:
        """Stop the server."""
        self._server.close()


@pytest.fixture
def flaky() -> Iterator[FlakyModel]:
    model = FlakyModel()
    yield model
    model.close()


def test_truncated_gguf_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    settings = get_settings(model="qwen2.5-coder-0.5b")
    whole = settings.model_dir / "qwen2.5-coder-0.5b-instruct.gguf"
    if not whole.exists():
        pytest.skip("the 0.5B model is not assembled (run `make setup`)")
    cut = tmp_path / "cut.gguf"
    with whole.open("rb") as src:
        cut.write_bytes(src.read(3 << 20))  # the header and the first 3 MB only
    with pytest.raises(ModelError, match="complete GGUF") as err:
        LlamaCppLLM(cut, n_ctx=512, warmup=False)
    assert "\n" not in str(err.value)
    notes = tmp_path / "notes.gguf"
    notes.write_text("not a model at all", encoding="utf-8")
    with pytest.raises(ModelError, match="not a GGUF"):
        get_llm(get_settings(model=str(notes)))


@pytest.mark.parametrize(
    ("mode", "message"),
    [("500", "HTTP 500: CUDA out of memory"), ("slow", "timed out"), ("broken", "malformed")],
)
def test_failing_remote_model_is_one_line(flaky: FlakyModel, mode: str, message: str) -> None:
    flaky.mode = mode
    llm = OpenAILLM(flaky.url, timeout=0.5)
    try:
        with pytest.raises(ModelError, match=message) as err:
            list(llm.stream(QUESTION, max_tokens=8, temperature=0.0))
        assert "\n" not in str(err.value)
        flaky.mode = "ok"  # the same backend answers once the server is back
        assert "".join(llm.stream(QUESTION, max_tokens=8, temperature=0.0)) == flaky.ANSWER
    finally:
        llm.close()


def test_app_stays_usable_while_the_remote_model_fails(
    flaky: FlakyModel, seed_settings: Settings
) -> None:
    pytest.importorskip("gradio")
    from gradio_client import Client

    from ui import app as ui

    settings = seed_settings.merged(
        backend="openai", openai_base_url=flaky.url, openai_timeout=1.0, answer_mode="full"
    )
    demo = ui.build_app(settings)
    url = ui.serve(demo, "127.0.0.1", None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        for mode, message in (("500", "HTTP 500"), ("slow", "timed out"), ("broken", "malformed")):
            flaky.mode = mode
            with pytest.raises(Exception, match=message) as err:  # noqa: B017 - gradio's AppError
                client.predict("Siapa anggota Aliansi Pasifik?", api_name="/ask")
            assert "\n" not in str(err.value).strip()
        flaky.mode = "ok"
        answer = client.predict("Siapa anggota Aliansi Pasifik?", api_name="/ask")
        assert "Meksiko" in answer["text"] and answer["citations"]
    finally:
        demo.close()
