"""`rag ask` and the `rag chat` REPL, in-process with scripted input and a fake LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import rag.llm
from rag.chat import stream_answer
from rag.cli import cli
from rag.ingest import ingest
from rag.prompt import NOT_FOUND
from rag.settings import get_settings
from tests.fakes import FakeLLM, passage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chat") / "index"
    ingest([SEEDS], get_settings(index_dir=path))
    return path


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    def reply(messages) -> str:
        question = messages[-1]["content"].rsplit("Question:", 1)[1]
        if "presiden" in question.lower():
            return NOT_FOUND
        return passage(messages, 1).split(". ")[0].rstrip(".") + " [1]."

    fake = FakeLLM(reply)
    monkeypatch.setattr(rag.llm, "get_llm", lambda settings: fake)
    return fake


def test_ask_streams_answer_and_lists_sources(seeds_index: Path, llm: FakeLLM) -> None:
    result = CliRunner().invoke(
        cli, ["ask", "Di hotel mana simposium migrasi diadakan?", "--index", str(seeds_index)]
    )
    assert result.exit_code == 0, result.output
    assert "[1]" in result.output
    assert "001_01c077a90a88fb6e.txt chars" in result.output  # the sources list
    assert '"' in result.output  # the quote


def test_ask_json(seeds_index: Path, llm: FakeLLM) -> None:
    result = CliRunner().invoke(
        cli,
        ["ask", "Di hotel mana simposium migrasi diadakan?", "--index", str(seeds_index), "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["citations"][0]["doc_id"] == "001_01c077a90a88fb6e.txt"
    assert {"text", "sources", "refused", "first_token_s", "total_s", "tokens"} <= set(data)


def test_ask_errors_are_one_line(tmp_path: Path, llm: FakeLLM) -> None:
    result = CliRunner().invoke(cli, ["ask", "Apa?", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: no index at")
    assert "rag ingest" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["ask", "  ", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1 and "empty" in result.output


def test_chat_repl_commands_history_and_eof(seeds_index: Path, llm: FakeLLM) -> None:
    script = "\n".join(
        [
            "/help",
            "/sources",
            "Komnas Perempuan bekerja sama dengan INFID?",
            "/sources",
            "Siapa yang mewakilinya?",
            "Siapa presiden Indonesia pada tahun 2019?",
            "/reset",
            "/bogus",
        ]
    )
    result = CliRunner().invoke(cli, ["chat", "--index", str(seeds_index)], input=script + "\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "/reset" in out and "No answer yet." in out
    assert "004_3ce22eceb3ce4dae.txt chars" in out  # /sources after the first answer
    # the follow-up carried the previous question into the prompt
    assert (
        "Previous question: Komnas Perempuan bekerja sama dengan INFID?"
        in (llm.prompts[1][-1]["content"])
    )
    assert "Maaf, artikel yang tersedia tidak memuat jawaban" in out
    assert "Conversation cleared." in out and "Unknown command /bogus" in out


def test_ctrl_c_stops_the_answer_not_the_repl() -> None:
    def events():
        yield "Satu "
        yield "dua "
        raise KeyboardInterrupt

    printed: list[str] = []
    assert stream_answer(events(), lambda s="", nl=True: printed.append(s)) is None
    assert printed[-1].strip() == "[stopped]"


def test_chat_saves_and_loads_a_conversation(
    seeds_index: Path, llm: FakeLLM, tmp_path: Path
) -> None:
    saved, notes = tmp_path / "talk.json", tmp_path / "talk.md"
    first = "\n".join(
        [
            "Komnas Perempuan bekerja sama dengan INFID?",
            f"/save {saved}",
            f"/save {notes}",
            "/save",
            f"/save {tmp_path / 'no-such-folder' / 'x.json'}",
        ]
    )
    result = CliRunner().invoke(cli, ["chat", "--index", str(seeds_index)], input=first + "\n")
    assert result.exit_code == 0, result.output
    assert f"Saved 1 answer(s) to {saved}" in result.output
    assert "Give a file: /save" in result.output
    assert "Error: cannot write" in result.output and "Traceback" not in result.output
    markdown = notes.read_text(encoding="utf-8")
    assert markdown.startswith(
        "# Conversation\n\n## 1. Komnas Perempuan bekerja sama dengan INFID?"
    )
    assert "> [1] " in markdown and "004_3ce22eceb3ce4dae.txt" in markdown and "“" in markdown

    # A new session goes on from the saved one: the follow-up sees the loaded question.
    prompts_before = len(llm.prompts)
    second = "\n".join([f"/load {saved}", "/sources", "Siapa yang mewakilinya?", f"/load {notes}"])
    result = CliRunner().invoke(cli, ["chat", "--index", str(seeds_index)], input=second + "\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "Loaded 1 answer(s)" in out and "004_3ce22eceb3ce4dae.txt chars" in out
    follow_up = llm.prompts[prompts_before][-1]["content"]
    assert "Previous question: Komnas Perempuan bekerja sama dengan INFID?" in follow_up
    assert "is not a conversation saved by rag" in out  # the Markdown export is not loadable
