"""The web app through its API (gradio_client against an in-process server on 127.0.0.1).

Most tests inject a scripted ``ask_fn``; uploads use the real ingest and embedder; one slow test
runs the whole real pipeline with the small built-in model.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file  # noqa: E402

from rag.answer import Answer, Citation, Sources  # noqa: E402
from rag.errors import ModelError  # noqa: E402
from rag.library import Library  # noqa: E402
from rag.settings import Settings, get_settings  # noqa: E402
from rag.types import Hit  # noqa: E402
from ui import app as ui  # noqa: E402
from ui.examples import example_questions  # noqa: E402
from ui.uploads import upload_dir  # noqa: E402

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DOC = (
    "Pertemuan digelar di Jakarta. Anggota Aliansi Pasifik adalah Chile, Kolombia, Meksiko "
    "dan Peru. Indonesia menjadi pengamat sejak 2015."
)
EVIL = "Judul <script>window.__pwned=1</script> ![x](http://example.invalid/x.png) ${1+1}"


class ScriptedAsk:
    """A stand-in for ``rag.answer.ask_stream``: its behaviour depends on the question, and it
    records every call (question, history, settings) it gets."""

    def __init__(self, pause: float = 0.0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.pause = pause
        self._lock = threading.Lock()

    def __call__(
        self, question: str, history: list[dict[str, str]] | None = None, **settings: Any
    ) -> Iterator[Sources | str | Answer]:
        with self._lock:
            self.calls.append({"question": question, "history": history, "settings": settings})
        if "model-broken" in question:
            raise ModelError("the model file is missing; run `rag models`\nsecond line")
        if "crash" in question:
            raise ValueError("internal detail")
        quote_start = DOC.index("Anggota")
        quote_end = DOC.index(" Indonesia")
        hits = [
            Hit(
                "a.txt#0",
                "a.txt",
                DOC,
                0,
                len(DOC),
                1.0,
                title="Aliansi Pasifik",
                url="https://example.org/a",
                date="2021-08-20",
            ),
            Hit("b.txt#0", "b.txt", EVIL, 0, len(EVIL), 0.5, title=EVIL),
        ]
        yield Sources(hits)
        if self.pause:
            time.sleep(self.pause)
        if "zzz" in question or "unsupported" in question:
            text = "Maaf, artikel yang tersedia tidak memuat jawaban atas pertanyaan ini."
            # "unsupported": the model's words are streamed, then the support check refuses
            yield "Anggotanya Brasil [1]." if "unsupported" in question else text
            yield Answer(question=question, text=text, sources=hits, refused=True)
            return
        echo = f"Jawaban untuk: {question}. " if "echo" in question else ""
        pieces = [echo, "Anggotanya Chile, Kolombia, ", "Meksiko dan Peru [1]. ", EVIL]
        for piece in pieces:
            if self.pause:
                time.sleep(self.pause / 4)
            yield piece
        citation = Citation(
            1,
            "a.txt",
            "Aliansi Pasifik",
            "a.txt#0",
            quote_start,
            quote_end,
            DOC[quote_start:quote_end],
            "https://example.org/a",
            "2021-08-20",
        )
        yield Answer(question=question, text="".join(pieces), citations=[citation], sources=hits)


def _start(settings: Settings, **kwargs: Any) -> tuple[Any, str]:
    demo = ui.build_app(settings, **kwargs)
    url = ui.serve(demo, "127.0.0.1", None, prevent_thread_lock=True, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedAsk, str]]:
    fake = ScriptedAsk(pause=0.3)
    settings = get_settings(index_dir=tmp_path_factory.mktemp("noindex") / "index")
    demo, url = _start(settings, ask_fn=fake, chat_concurrency=4)
    yield fake, url
    demo.close()


def _final(job: Any) -> tuple[Any, ...]:
    outputs = job.outputs()
    assert outputs, "the chat event produced no output"
    return outputs[-1]


def _texts(chat: list[dict[str, Any]], role: str) -> list[str]:
    return [part["text"] for m in chat if m["role"] == role for part in m["content"]]


def test_ask_returns_answer_with_citations(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    result = Client(url, verbose=False).predict("Siapa anggota Aliansi Pasifik?", api_name="/ask")
    # The same JSON as `rag ask --json`: Answer.to_dict().
    assert set(result) == set(Answer(question="", text="").to_dict())
    assert result["question"] == "Siapa anggota Aliansi Pasifik?"
    assert result["refused"] is False
    assert "[1]" in result["text"]
    assert result["citations"][0]["n"] == 1
    assert result["citations"][0]["quote"].startswith("Anggota Aliansi Pasifik")
    assert result["sources"][0]["title"] == "Aliansi Pasifik"


def test_settings_reach_ask_as_overrides(scripted: tuple[ScriptedAsk, str]) -> None:
    fake, url = scripted
    Client(url, verbose=False).predict(
        "pengaturan model?", "qwen2.5-coder-0.5b", 5, api_name="/ask"
    )
    call = next(c for c in fake.calls if c["question"] == "pengaturan model?")
    assert call["settings"]["model"] == "qwen2.5-coder-0.5b"
    assert call["settings"]["k"] == 5
    assert Path(call["settings"]["index_dir"]).name == "index"  # the app's own index


def test_chat_shows_passages_before_the_answer(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    job = Client(url, verbose=False).submit("Siapa anggota Aliansi Pasifik?", api_name="/chat")
    job.result(timeout=60)
    outputs = job.outputs()
    reading = [
        i
        for i, (chat, sources, *_) in enumerate(outputs)
        if isinstance(sources, str)
        and 'id="rag-src-1-1"' in sources
        and "rag-pending" in _texts(chat, "assistant")[-1]
    ]
    answered = [
        i for i, (chat, *_) in enumerate(outputs) if "rag-cite" in _texts(chat, "assistant")[-1]
    ]
    assert reading and answered and reading[0] < answered[0]
    chat, sources, *_ = _final(job)
    answer = _texts(chat, "assistant")[-1]
    assert '<a class="rag-cite" href="#rag-src-1-1" data-n="1">[1]</a>' in answer
    # The cited passage is listed with its title, date, link, and the quote highlighted.
    assert 'id="rag-src-1-1"' in sources
    assert "2021-08-20" in sources and 'href="https://example.org/a"' in sources
    assert "<mark>Anggota Aliansi Pasifik adalah Chile, Kolombia, Meksiko dan Peru.</mark>" in (
        sources
    )
    assert 'id="rag-src-1-2"' not in sources  # only cited passages by default


def test_article_text_is_escaped_everywhere(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    job = Client(url, verbose=False).submit(
        "show evil <img src=x onerror=alert(1)>", api_name="/chat"
    )
    job.result(timeout=60)
    chat, sources, *_ = _final(job)
    everything = " ".join(_texts(chat, "user") + _texts(chat, "assistant")) + sources
    assert "<script" not in everything and "<img" not in everything
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in _texts(chat, "assistant")[-1]
    assert "&lt;img src=x onerror=alert(1)&gt;" in _texts(chat, "user")[-1]
    assert "&#36;&#123;1+1&#125;" in _texts(chat, "assistant")[-1]


def test_follow_up_passes_history(scripted: tuple[ScriptedAsk, str]) -> None:
    fake, url = scripted
    client = Client(url, verbose=False)
    client.submit("pertama: Siapa anggota Aliansi Pasifik?", api_name="/chat").result(timeout=60)
    job = client.submit("kedua: sejak kapan?", api_name="/chat")
    job.result(timeout=60)
    call = next(c for c in fake.calls if c["question"] == "kedua: sejak kapan?")
    assert call["history"][0] == {
        "role": "user",
        "content": "pertama: Siapa anggota Aliansi Pasifik?",
    }
    assert call["history"][1]["role"] == "assistant"
    assert "Meksiko dan Peru [1]" in call["history"][1]["content"]
    chat, *_ = _final(job)
    assert len(_texts(chat, "user")) == 2
    # Passage ids are per turn, so [1] of each answer points to its own source.
    assert 'href="#rag-src-2-1"' in _texts(chat, "assistant")[-1]


def test_sessions_never_mix(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    results: dict[int, Any] = {}

    def user(i: int) -> None:
        client = Client(url, verbose=False)
        for turn in range(2):
            job = client.submit(f"echo user {i} turn {turn}", api_name="/chat")
            job.result(timeout=120)
            results[(i, turn)] = _final(job)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=180)
    assert len(results) == 8
    for (i, turn), (chat, *_) in results.items():
        asked = _texts(chat, "user")
        assert len(asked) == turn + 1
        assert all(f"echo user {i} turn" in q for q in asked)
        assert f"Jawaban untuk: echo user {i} turn {turn}." in _texts(chat, "assistant")[-1]


def test_refusal_is_a_calm_notice(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    job = Client(url, verbose=False).submit("zzz tidak ada", api_name="/chat")
    job.result(timeout=60)
    chat, sources, *_ = _final(job)
    answer = _texts(chat, "assistant")[-1]
    assert "rag-refusal" in answer and "rag-error" not in answer
    assert "tidak memuat jawaban" in answer
    # The passages that were searched stay visible, with nothing highlighted.
    assert 'id="rag-src-1-1"' in sources and "<mark>" not in sources
    assert "tidak ada yang menjawab" in sources


def test_rag_error_is_one_line_without_traceback(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    client = Client(url, verbose=False)
    job = client.submit("model-broken?", api_name="/chat")
    job.result(timeout=60)
    chat, *_ = _final(job)
    answer = _texts(chat, "assistant")[-1]
    assert "rag-error" in answer
    assert "the model file is missing; run `rag models`" in html.unescape(answer)
    assert "second line" not in answer and "Traceback" not in answer
    with pytest.raises(Exception, match="the model file is missing") as err:
        client.predict("model-broken?", api_name="/ask")
    assert "Traceback" not in str(err.value)


def test_unexpected_error_hides_internals(scripted: tuple[ScriptedAsk, str]) -> None:
    _, url = scripted
    job = Client(url, verbose=False).submit("crash now", api_name="/chat")
    job.result(timeout=60)
    answer = _texts(_final(job)[0], "assistant")[-1]
    assert "rag-error" in answer and "ValueError" in answer
    assert "internal detail" not in answer


# --- articles: real ingest into a temporary index --------------------------------------------


@pytest.fixture(scope="module")
def articles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    from rag.ingest import ingest

    root = tmp_path_factory.mktemp("articles")
    settings = get_settings(index_dir=root / "index")
    ingest([SEEDS / "000_a9ce33f359e193a2.txt", SEEDS / "004_3ce22eceb3ce4dae.txt"], settings)
    demo, url = _start(settings, ask_fn=ScriptedAsk(), max_upload_mb=0.05)
    yield settings, url
    demo.close()


def _doc_ids(settings: Settings) -> list[str]:
    from rag.index import Index

    return [d.id for d in Index.load(settings.index_dir).documents()]


def test_upload_adds_an_article_and_remove_deletes_it(
    articles: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = articles
    path = tmp_path / "festival layang.txt"
    path.write_text(
        "Festival Layang-Layang Pangandaran 2024 diikuti 40 tim dari 12 negara.\n\n"
        "Panitia mencatat 15 ribu penonton pada hari pertama.",
        encoding="utf-8",
    )
    client = Client(url, verbose=False)
    out = client.predict([handle_file(str(path))], "en", api_name="/add_articles")
    assert "1 added" in out[0], out[0]
    stored = upload_dir(settings) / "festival_layang.txt"
    assert stored.is_file()
    assert "festival_layang.txt" in _doc_ids(settings)
    table = out[1]
    assert any("Pangandaran" in str(row[0]) for row in table["value"]["data"])

    out = client.predict(["festival_layang.txt"], "en", api_name="/remove_articles")
    assert "Removed 1" in out[0]
    assert "festival_layang.txt" not in _doc_ids(settings)
    assert not stored.exists()
    assert "000_a9ce33f359e193a2.txt" in _doc_ids(settings)


def test_bad_upload_changes_nothing(articles: tuple[Settings, str], tmp_path: Path) -> None:
    settings, url = articles
    before = _doc_ids(settings)
    client = Client(url, verbose=False)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "text": "ok"}\nnot json\n', encoding="utf-8")
    out = client.predict([handle_file(str(broken))], "en", api_name="/add_articles")
    assert "not valid JSON" in out[0] and "Nothing was changed" in out[0]
    assert "\n" not in out[0]

    big = tmp_path / "big.txt"
    big.write_text("kata " * 20_000, encoding="utf-8")  # 100 kB > the 0.05 MB limit
    with pytest.raises(Exception, match="(?i)too large|larger|size"):
        client.predict([handle_file(str(big))], "en", api_name="/add_articles")

    assert _doc_ids(settings) == before
    folder = upload_dir(settings)
    assert not folder.exists() or not any(folder.iterdir())


def test_examples_follow_the_index(articles: tuple[Settings, str], tmp_path: Path) -> None:
    from rag.ingest import ingest

    settings, _ = articles
    found = example_questions(Library(settings), "id")
    assert "Negara apa saja yang menjadi anggota Aliansi Pasifik?" in found
    assert any("INFID" in q for q in found)
    assert not any("Migration Governance" in q for q in found)  # that seed is not indexed

    other = get_settings(index_dir=tmp_path / "other")
    article = tmp_path / "kopi.md"
    article.write_text("# Harga kopi naik\n\nHarga kopi naik 10 persen.", encoding="utf-8")
    ingest([article], other)
    found = example_questions(Library(other), "en")
    assert found == ['What does the article "Harga kopi naik" report?']


# --- the real pipeline ------------------------------------------------------------------------


@pytest.mark.slow
def test_real_pipeline_answers_with_citations(tmp_path: Path) -> None:
    from rag.index import Index
    from rag.ingest import ingest

    settings = get_settings(index_dir=tmp_path / "index", model="qwen2.5-coder-0.5b")
    ingest([SEEDS], settings)
    demo, url = _start(settings)
    try:
        client = Client(url, verbose=False)
        result = client.predict(
            "Negara apa saja yang menjadi anggota Aliansi Pasifik?", api_name="/ask"
        )
        job = client.submit("Siapa yang mewakili INFID dalam penandatanganan?", api_name="/chat")
        job.result(timeout=600)
        chat, sources, *_ = _final(job)
    finally:
        demo.close()
    assert not result["refused"] and result["citations"], result
    index = Index.load(settings.index_dir)
    for c in result["citations"]:
        assert index.document_text(c["doc_id"])[c["start"] : c["end"]] == c["quote"]
    answer = _texts(chat, "assistant")[-1]
    assert "rag-error" not in answer
    assert "rag-answer" in answer or "rag-refusal" in answer
    if "rag-cite" in answer:
        assert "<mark>" in sources
