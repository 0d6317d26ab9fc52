"""The OpenAI-compatible API and the access rules, on a real ``rag serve`` app (uvicorn on
127.0.0.1) through the official ``openai`` client, ``gradio_client`` and ``httpx``.

Answers come from the scripted stand-in of ``tests/test_ui_api.py``; uploads use the real
ingest and embedder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("gradio")
openai = pytest.importorskip("openai")

from click.testing import CliRunner  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from rag.cli import cli  # noqa: E402
from rag.errors import AccessError  # noqa: E402
from rag.settings import get_settings  # noqa: E402
from tests.test_ui_api import DOC, ScriptedAsk  # noqa: E402
from ui import app as ui  # noqa: E402


def _serve(tmp: Path, fake: ScriptedAsk, **settings: Any) -> tuple[Any, str]:
    build = {k: settings.pop(k) for k in ("chat_concurrency", "queue_size") if k in settings}
    config = get_settings(index_dir=tmp / "index", **settings)
    demo = ui.build_app(config, ask_fn=fake, **build)
    url = ui.serve(demo, config.host, None, prevent_thread_lock=True, quiet=True)
    return demo, url


def _client(url: str, key: str = "none") -> Any:
    return openai.OpenAI(base_url=f"{url.rstrip('/')}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedAsk, str]]:
    fake = ScriptedAsk()
    demo, url = _serve(tmp_path_factory.mktemp("api"), fake)
    yield fake, url
    demo.close()


def test_models_lists_the_served_model_first(api: tuple[ScriptedAsk, str]) -> None:
    _, url = api
    ids = [m.id for m in _client(url).models.list()]
    assert ids[0] == get_settings().model and "qwen2.5-coder-0.5b" in ids


def test_completion_keeps_markers_and_carries_checked_citations(
    api: tuple[ScriptedAsk, str],
) -> None:
    _, url = api
    reply = _client(url).chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Siapa anggota Aliansi Pasifik?"}]
    )
    text = reply.choices[0].message.content
    assert "Meksiko dan Peru [1]." in text
    (cite,) = reply.model_extra["citations"]
    assert cite["n"] == 1 and cite["doc_id"] == "a.txt" and cite["url"] == "https://example.org/a"
    assert DOC[cite["start"] : cite["end"]] == cite["quote"] and "Chile" in cite["quote"]
    assert "page" in cite and reply.model_extra["refused"] is False


def _streamed(url: str, question: str) -> tuple[list[Any], str]:
    """The chunks of a streamed answer to ``question`` and the text a client shows."""
    stream = _client(url).chat.completions.create(
        model="default", messages=[{"role": "user", "content": question}], stream=True
    )
    chunks = list(stream)
    return chunks, "".join(c.choices[0].delta.content or "" for c in chunks)


def test_streamed_answer_ends_with_citations(api: tuple[ScriptedAsk, str]) -> None:
    chunks, text = _streamed(api[1], "Siapa anggota Aliansi Pasifik?")
    assert "Meksiko dan Peru [1]." in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert [c["doc_id"] for c in last.model_extra["citations"]] == ["a.txt"]
    assert "[1]" in last.model_extra["answer"]
    assert all(not c.model_extra.get("citations") for c in chunks[:-1])


def test_a_streamed_answer_the_check_refuses_ends_with_the_refusal(
    api: tuple[ScriptedAsk, str],
) -> None:
    chunks, text = _streamed(api[1], "unsupported: siapa anggota baru?")
    assert text.startswith("Anggotanya Brasil [1].")
    refusal = "Maaf, artikel yang tersedia tidak memuat jawaban atas pertanyaan ini."
    assert text.endswith("\n\n" + refusal)
    assert chunks[-1].model_extra["refused"] is True


def test_a_refusal_streamed_as_it_is_is_not_repeated(api: tuple[ScriptedAsk, str]) -> None:
    _, text = _streamed(api[1], "zzz harga?")
    assert text == "Maaf, artikel yang tersedia tidak memuat jawaban atas pertanyaan ini."


def test_pieces_arrive_while_the_answer_is_written(tmp_path: Path) -> None:
    demo, url = _serve(tmp_path, ScriptedAsk(pause=1.2))
    try:
        stream = _client(url).chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": "Siapa anggota Aliansi Pasifik?"}],
            stream=True,
        )
        seen: list[float] = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(time.monotonic())
        # The scripted answer sleeps 0.3 s between its pieces: they must not come at once.
        assert len(seen) >= 3 and seen[-1] - seen[0] > 0.5
    finally:
        demo.close()


def test_clients_that_hang_up_give_their_place_back(tmp_path: Path) -> None:
    demo, url = _serve(tmp_path, ScriptedAsk(pause=0.5), chat_concurrency=1, queue_size=1)
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": "x?"}]}
    gate = demo.rag_gate
    try:
        for _ in range(4):  # each opens a stream, reads one line, and hangs up
            with httpx.stream("POST", f"{url}v1/chat/completions", json=body, timeout=30) as r:
                assert r.status_code == 200
                next(r.iter_lines())
            deadline = time.monotonic() + 10
            while gate.count and time.monotonic() < deadline:
                time.sleep(0.1)
            assert gate.count == 0  # the place came back (else the fourth would be refused)
        reply = _client(url).chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Siapa anggota?"}]
        )
        assert "[1]" in reply.choices[0].message.content
    finally:
        demo.close()


def test_earlier_messages_are_the_history(api: tuple[ScriptedAsk, str]) -> None:
    fake, url = api
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Siapa anggota Aliansi Pasifik?"},
        {"role": "assistant", "content": "Chile, Kolombia, Meksiko dan Peru [1]."},
        {"role": "user", "content": [{"type": "text", "text": "Sejak kapan Indonesia?"}]},
    ]
    _client(url).chat.completions.create(model="default", messages=messages)
    call = fake.calls[-1]
    assert call["question"] == "Sejak kapan Indonesia?"
    assert [m["role"] for m in call["history"]] == ["user", "assistant"]


def test_a_refusal_is_an_answer_without_citations(api: tuple[ScriptedAsk, str]) -> None:
    _, url = api
    reply = _client(url).chat.completions.create(
        model="default", messages=[{"role": "user", "content": "zzz harga saham?"}]
    )
    assert reply.choices[0].message.content.startswith("Maaf")
    assert reply.model_extra["citations"] == [] and reply.model_extra["refused"] is True


def test_errors_are_one_line_with_the_right_status(api: tuple[ScriptedAsk, str]) -> None:
    _, url = api
    client = _client(url)
    with pytest.raises(openai.InternalServerError) as err:  # 503: the model is missing
        client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "model-broken?"}]
        )
    message = err.value.body["message"]
    assert "rag models" in message and "\n" not in message
    with pytest.raises(openai.BadRequestError, match="unknown model"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="last message must be the user"):
        client.chat.completions.create(
            model="default", messages=[{"role": "assistant", "content": "x"}]
        )
    # A request that is not JSON, and one over RAG_MAX_REQUEST_KB, both get 400 and a line.
    bad = httpx.post(f"{url}v1/chat/completions", content=b"{not json", timeout=10)
    assert bad.status_code == 400 and "messages list" in bad.json()["error"]["message"]
    huge = {"messages": [{"role": "user", "content": "x" * 300_000}]}
    over = httpx.post(f"{url}v1/chat/completions", json=huge, timeout=10)
    assert over.status_code == 400 and "RAG_MAX_REQUEST_KB" in over.json()["error"]["message"]


def test_a_busy_server_says_so_instead_of_waiting(tmp_path: Path) -> None:
    fake = ScriptedAsk(pause=1.5)
    demo, url = _serve(tmp_path, fake, chat_concurrency=1, queue_size=1)
    outcomes: list[str] = []

    def one() -> None:
        try:
            _client(url).chat.completions.create(
                model="default", messages=[{"role": "user", "content": "Siapa anggota?"}]
            )
            outcomes.append("answered")
        except openai.RateLimitError as exc:
            outcomes.append(exc.body["message"])

    try:
        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        demo.close()
    assert outcomes.count("answered") == 2  # one answering, one waiting
    assert all(o.startswith("busy:") and "try again" in o for o in outcomes if o != "answered")


def test_ask_token_guards_the_api_and_the_browser(tmp_path: Path) -> None:
    demo, url = _serve(tmp_path, ScriptedAsk(), ask_token="open-sesame")
    try:
        question = [{"role": "user", "content": "Siapa anggota Aliansi Pasifik?"}]
        with pytest.raises(openai.AuthenticationError, match="RAG_ASK_TOKEN"):
            _client(url, "wrong").chat.completions.create(model="default", messages=question)
        with pytest.raises(openai.AuthenticationError):
            _client(url, "wrong").models.list()
        reply = _client(url, "open-sesame").chat.completions.create(
            model="default", messages=question
        )
        assert "[1]" in reply.choices[0].message.content
        # The browser app asks for a login; the token is the password.
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain ValueError
            Client(url, verbose=False)
        client = Client(url, auth=("anyone", "open-sesame"), verbose=False)
        assert client.predict("Siapa anggota Aliansi Pasifik?", api_name="/ask")["citations"]
    finally:
        demo.close()


def test_admin_token_guards_uploads_and_removals(tmp_path: Path) -> None:
    demo, url = _serve(tmp_path, ScriptedAsk(), admin_token="adm1n")
    article = tmp_path / "aliansi.txt"
    article.write_text(f"Aliansi Pasifik\n\n{DOC}\n", encoding="utf-8")
    try:
        client = Client(url, verbose=False)
        refused = client.predict([handle_file(str(article))], "en", "", api_name="/add_articles")
        assert "admin token" in refused[0] and not (tmp_path / "index").exists()
        wrong = client.predict([handle_file(str(article))], "en", "nope", api_name="/add_articles")
        assert "admin token" in wrong[0]
        added = client.predict([handle_file(str(article))], "en", "adm1n", api_name="/add_articles")
        assert "1 added" in added[0]
        kept = client.predict(["aliansi.txt"], "en", "", api_name="/remove_articles")
        assert "admin token" in kept[0]
        gone = client.predict(["aliansi.txt"], "en", "adm1n", api_name="/remove_articles")
        assert "Removed 1" in gone[0] or "removed" in gone[0].lower()
    finally:
        demo.close()


def test_public_address_without_admin_token_refuses_to_start(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "index")]
    )
    assert result.exit_code == 1
    assert "RAG_ADMIN_TOKEN" in result.output and "--insecure" in result.output
    assert "Traceback" not in result.output
    demo = ui.build_app(get_settings(host="0.0.0.0", index_dir=tmp_path / "index"))
    with pytest.raises(AccessError):
        ui.serve(demo, "0.0.0.0", None, prevent_thread_lock=True, quiet=True)


def test_public_address_with_insecure_flag_starts_open(tmp_path: Path) -> None:
    demo, url = _serve(tmp_path, ScriptedAsk(), host="0.0.0.0", insecure=True)
    try:
        port = url.rstrip("/").rsplit(":", 1)[1]
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10)
        assert models.status_code == 200
    finally:
        demo.close()
