"""Several app servers, one database: two real ``rag serve`` processes on one PostgreSQL (the
real embedder, the remote-model backend pointed at a scripted local server). An article
uploaded through one is found by the other's next question, without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio")
pytest.importorskip("psycopg")

from gradio_client import Client, handle_file  # noqa: E402

from rag.ingest import ingest  # noqa: E402
from rag.settings import get_settings  # noqa: E402
from tests.test_model_faults import FlakyModel  # noqa: E402
from ui.app import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Berapa negara peserta Festival Layang-Layang Zamrud di Pangandaran?"
ARTICLE = (
    "Festival Layang-Layang Zamrud\n\n"
    "Festival Layang-Layang Zamrud digelar di Pantai Pangandaran pada Juli 2031. Sebanyak 120 "
    "peserta dari 14 negara menerbangkan layang-layang raksasa selama tiga hari.\n"
)


def _start(env: dict[str, str], tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (tmp / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"rag serve {name} exited: {(tmp / f'{name}.log').read_text()}")
        try:
            if httpx.get(f"{url}v1/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"rag serve {name} did not start: {(tmp / f'{name}.log').read_text()}")


@pytest.fixture
def two_servers(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    ingest([ROOT / "seeds"], get_settings(store=pg_url, index_dir=tmp_path / "index"))
    model = FlakyModel()
    env = {
        **os.environ,
        "RAG_STORE": pg_url,
        "RAG_INDEX_DIR": str(tmp_path / "index"),
        "RAG_BACKEND": "openai",
        "RAG_OPENAI_BASE_URL": model.url,
        "RAG_ANSWER_MODE": "full",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        a, url_a = _start(env, tmp_path, "a")
        procs.append(a)
        b, url_b = _start(env, tmp_path, "b")
        procs.append(b)
        yield url_a, url_b
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        model.close()


def _source_ids(url: str) -> set[str]:
    answer = Client(url, verbose=False).predict(QUESTION, api_name="/ask")
    return {hit["doc_id"] for hit in answer["sources"]}


def test_an_upload_through_one_server_is_found_by_the_other(
    two_servers: tuple[str, str], tmp_path: Path
) -> None:
    url_a, url_b = two_servers
    assert "zamrud.txt" not in _source_ids(url_b)
    article = tmp_path / "zamrud.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    status = Client(url_a, verbose=False).predict(
        [handle_file(str(article))], "en", "", api_name="/add_articles"
    )
    assert "1 added" in status[0]
    assert "zamrud.txt" in _source_ids(url_b)  # the other server, no restart
