"""LLM backends against real models: llama.cpp in process, and llama.cpp's OpenAI-compatible
server started as a subprocess for the HTTP backend. Prompts are short and answers capped at a
few tokens so each test stays well under a minute on two cores."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ModelError
from rag.llm import LLM, LlamaCppLLM, OpenAILLM, get_llm
from rag.models import BUILTIN_MODELS, builtin_path, parts_installed, resolve_model
from rag.prompt import build_prompt
from rag.settings import Settings, get_settings
from tests.localsite import running

SMALL = "qwen2.5-coder-0.5b"
CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
COUNT = [
    {
        "role": "user",
        "content": "Write the numbers from 1 to 10 in digits, separated by single spaces, "
        "and nothing else.",
    }
]


@pytest.fixture(scope="session")
def small_settings() -> Settings:
    """Settings for the built-in 0.5B model (assembled into the normal model folder)."""
    pytest.importorskip("llama_cpp")
    settings = get_settings(model=SMALL, backend="llama", n_ctx=2048, n_batch=512)
    model = BUILTIN_MODELS[SMALL]
    if not builtin_path(model, settings.model_dir).exists() and not parts_installed(model):
        pytest.skip(f"{SMALL} is not installed (run `make setup`)")
    return settings


@pytest.fixture(scope="session")
def small_path(small_settings: Settings) -> Path:
    return resolve_model(small_settings, progress=False)


@pytest.fixture(scope="session")
def small_llm(small_settings: Settings) -> LLM:
    return get_llm(small_settings)


def complete(llm: LLM, messages: list[dict[str, str]], **kw: Any) -> str:
    """The whole streamed answer as one string."""
    return "".join(llm.stream(messages, **kw))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# python -m llama_cpp.server, with llama.cpp's AMX path off where it is built in (it crashes;
# rag.llm.llama.avoid_amx_crash)
SERVER = (
    "import runpy, sys; from rag.llm.llama import avoid_amx_crash; avoid_amx_crash(); "
    "sys.argv[0] = 'llama_cpp.server'; runpy.run_module('llama_cpp.server', run_name='__main__')"
)


@pytest.fixture(scope="module")
def server_url(small_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving the 0.5B model; yields its ``/v1`` URL."""
    pytest.importorskip("llama_cpp.server")
    import httpx

    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, "--model", str(small_path),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ llama.cpp in process


@pytest.mark.slow
def test_llama_streams_a_short_answer(small_llm: LLM) -> None:
    pieces = list(small_llm.stream(CAPITAL, max_tokens=16, temperature=0.0))

    assert isinstance(small_llm, LlamaCppLLM)
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "paris" in "".join(pieces).lower()


@pytest.mark.slow
def test_llama_stop_sequence_cuts_the_answer(small_llm: LLM) -> None:
    full = complete(small_llm, COUNT, max_tokens=30, temperature=0.0)
    cut = complete(small_llm, COUNT, max_tokens=30, temperature=0.0, stop=["5"])

    assert "4" in full and "6" in full  # the model does count; the stop is what differs
    assert "4" in cut
    assert "5" not in cut and "6" not in cut


@pytest.mark.slow
def test_closing_the_stream_early_releases_the_model(small_llm: LLM) -> None:
    assert isinstance(small_llm, LlamaCppLLM)
    expected = complete(small_llm, CAPITAL, max_tokens=16, temperature=0.0)

    stream = small_llm.stream(COUNT, max_tokens=200, temperature=0.0)
    first = next(stream)
    assert small_llm._lock.locked()
    stream.close()

    assert first
    assert not small_llm._lock.locked()
    # The KV state left by the aborted answer must not leak into the next one.
    assert complete(small_llm, CAPITAL, max_tokens=16, temperature=0.0) == expected


@pytest.mark.slow
def test_second_stream_in_the_same_thread_is_refused(small_llm: LLM) -> None:
    first = small_llm.stream(CAPITAL, max_tokens=16, temperature=0.0)
    next(first)
    small_llm.same_thread_wait = 0.5
    try:
        with pytest.raises(ModelError, match="close it"):
            next(small_llm.stream(CAPITAL, max_tokens=16, temperature=0.0))
    finally:
        first.close()
        small_llm.same_thread_wait = 30.0


def test_a_pool_thread_waits_for_an_answer_another_thread_finishes(small_llm: LLM) -> None:
    """A server steps one answer in worker threads: the thread that stepped it last may start
    another answer while a second thread finishes the first. It waits, then answers."""
    first = small_llm.stream(COUNT, max_tokens=24, temperature=0.0)
    next(first)  # this thread holds the model, the answer unfinished
    finisher = threading.Thread(target=lambda: (time.sleep(0.5), list(first)))
    finisher.start()
    second = complete(small_llm, CAPITAL, max_tokens=4, temperature=0.0)
    finisher.join()
    assert "paris" in second.lower()


@pytest.mark.slow
def test_concurrent_callers_queue_and_get_correct_answers(small_llm: LLM) -> None:
    expected = {
        "capital": complete(small_llm, CAPITAL, max_tokens=12, temperature=0.0),
        "count": complete(small_llm, COUNT, max_tokens=12, temperature=0.0),
    }
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def run(key: str, messages: list[dict[str, str]]) -> None:
        try:
            results[key] = complete(small_llm, messages, max_tokens=12, temperature=0.0)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("capital", CAPITAL)),
        threading.Thread(target=run, args=("count", COUNT)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert results == expected


@pytest.mark.slow
def test_llama_counts_tokens_with_its_tokenizer(small_llm: LLM) -> None:
    short = small_llm.count_tokens("hello world")
    long = small_llm.count_tokens("hello world " * 50)

    assert 0 < short < long
    assert small_llm.count_tokens("") == 0


@pytest.mark.slow
def test_too_long_prompt_is_a_model_error(small_llm: LLM) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]

    with pytest.raises(ModelError, match="RAG_N_CTX"):
        complete(small_llm, huge, max_tokens=4, temperature=0.0)
    assert complete(small_llm, CAPITAL, max_tokens=8, temperature=0.0)


@pytest.mark.slow
def test_get_llm_loads_once_per_settings(small_settings: Settings, small_llm: LLM) -> None:
    got: list[LLM] = []
    threads = [
        threading.Thread(target=lambda: got.append(get_llm(small_settings))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(got) == 4 and all(llm is small_llm for llm in got)


# ------------------------------------------------------------------ OpenAI-compatible server


@pytest.mark.slow
def test_openai_backend_streams_from_a_real_server(server_url: str) -> None:
    llm = get_llm(get_settings(backend="openai", openai_base_url=server_url))

    pieces = list(llm.stream(CAPITAL, max_tokens=16, temperature=0.0))

    assert isinstance(llm, OpenAILLM)
    assert len(pieces) >= 1 and all(pieces)
    assert "paris" in "".join(pieces).lower()


@pytest.mark.slow
def test_openai_backend_stop_and_early_close(server_url: str) -> None:
    llm = OpenAILLM(server_url)
    try:
        cut = complete(llm, COUNT, max_tokens=30, temperature=0.0, stop=["5"])
        assert "4" in cut and "5" not in cut

        stream = llm.stream(COUNT, max_tokens=200, temperature=0.0)
        assert next(stream)
        stream.close()
        assert "paris" in complete(llm, CAPITAL, max_tokens=16, temperature=0.0).lower()
    finally:
        llm.close()


@pytest.mark.slow
def test_openai_backend_uses_the_server_tokenizer(server_url: str, small_llm: LLM) -> None:
    llm = OpenAILLM(server_url)
    text = "Jakarta adalah ibu kota Indonesia, kata juru bicara pemerintah."
    try:
        assert llm.count_tokens(text) == small_llm.count_tokens(text)
    finally:
        llm.close()


@pytest.mark.slow
def test_openai_http_error_is_a_model_error(server_url: str) -> None:
    bad_path = server_url.removesuffix("/v1") + "/no-such-api"
    llm = OpenAILLM(bad_path)

    with pytest.raises(ModelError, match="HTTP 404") as err:
        complete(llm, CAPITAL, max_tokens=4, temperature=0.0)

    assert bad_path in str(err.value) and "\n" not in str(err.value)


def test_openai_unreachable_server_is_a_model_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    llm = OpenAILLM(url)

    with pytest.raises(ModelError, match="cannot reach") as err:
        list(llm.stream(CAPITAL, max_tokens=4, temperature=0.0))

    assert url in str(err.value) and "\n" not in str(err.value)
    assert llm.count_tokens("a" * 35) == 10  # no tokenizer reachable: len / 3.5


@contextmanager
def fake_server(body: bytes) -> Iterator[str]:
    """A local HTTP server answering every POST with ``body`` as an event stream; yields its
    ``/v1`` URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with running(Handler) as url:
        yield f"{url}/v1"


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (b"data: {not json\n\n", "malformed"),
        (b'data: {"error": {"message": "model\\nexploded"}}\n\n', "failed: model exploded"),
    ],
)
def test_openai_bad_stream_is_a_one_line_model_error(events: bytes, message: str) -> None:
    with fake_server(events) as url:
        llm = OpenAILLM(url)
        try:
            with pytest.raises(ModelError, match=message) as err:
                list(llm.stream(CAPITAL, max_tokens=4, temperature=0.0))
        finally:
            llm.close()
    assert url in str(err.value) and "\n" not in str(err.value)


def test_base_llm_reads_a_prompt_as_its_messages() -> None:
    class Echo(LLM):
        def stream(self, messages, *, max_tokens, temperature, stop=None):  # type: ignore[override]
            yield from messages[-1]["content"].split(" ")[:max_tokens]

    prompt = build_prompt("Where?", [], "en")
    pieces = list(Echo().stream_prompt(prompt, max_tokens=2, temperature=0))
    assert pieces == prompt.user().split(" ")[:2]
    assert Echo().count_tokens("x" * 7) == 2


@pytest.mark.slow
def test_closed_llama_model_refuses_instead_of_crashing(small_path: Path) -> None:
    llm = LlamaCppLLM(small_path, n_ctx=512, warmup=False)
    llm.close()
    llm.close()  # idempotent

    with pytest.raises(ModelError, match="closed"):
        complete(llm, CAPITAL, max_tokens=4, temperature=0.0)
