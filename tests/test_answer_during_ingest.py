"""Answering while an ingest swaps the index: no question fails, and the first question after
the swap sees the new index (real index, real embedder, a fake model)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

import rag.llm
from rag import ask
from rag.ingest import ingest, remove
from rag.settings import get_settings
from tests.fakes import FakeLLM, passage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
NEW = (
    "Festival Layang-Layang Zamrud\n\n"
    "Festival Layang-Layang Zamrud digelar di Pantai Pangandaran pada Juli 2031. Sebanyak 120 "
    "peserta dari 14 negara menerbangkan layang-layang raksasa selama tiga hari.\n"
)
QUESTION = "Berapa negara peserta Festival Layang-Layang Zamrud di Pangandaran?"


@pytest.fixture
def index(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    base = tmp_path_factory.getbasetemp() / "during-ingest-seeds"
    if not base.exists():
        ingest([SEEDS], get_settings(index_dir=base))
    shutil.copytree(base, tmp_path / "index")
    return tmp_path / "index"


def test_questions_keep_working_while_the_index_is_swapped(
    index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = FakeLLM(lambda m: passage(m, 1).split(". ")[0].rstrip(".") + " [1].")
    monkeypatch.setattr(rag.llm, "get_llm", lambda settings: llm)
    settings = get_settings(index_dir=index)
    article = tmp_path / "new" / "zamrud.txt"
    article.parent.mkdir()
    article.write_text(NEW, encoding="utf-8")
    errors: list[BaseException] = []
    answered = 0
    stop = threading.Event()

    def keep_asking() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                ask("Negara apa saja yang menjadi anggota Aliansi Pasifik?", index_dir=index)
                answered += 1
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        for _ in range(3):  # add, remove, add: three swaps under the asking thread
            ingest([article.parent], settings)
            remove(["zamrud.txt"], settings)
        ingest([article.parent], settings)
    finally:
        stop.set()
        asker.join()
    assert errors == [] and answered > 0
    after = ask(QUESTION, index_dir=index)
    assert any(h.doc_id == "zamrud.txt" for h in after.sources)
    assert "14 negara" in after.text or "Zamrud" in after.text
