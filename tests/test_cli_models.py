"""The ``rag models`` group of the CLI: listing and ``install``, in process, on fake models."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT

import rag.models
from rag.cli import cli
from rag.models import BUILTIN_MODELS, DEFAULT_MODEL, BuiltinModel, assembly, ensure_builtin
from rag.settings import Settings


def _run(args: list[str], model_dir: Path) -> Result:
    env = {"RAG_MODEL_DIR": str(model_dir), "RAG_MODEL": DEFAULT_MODEL}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.fixture
def assembled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuiltinModel:
    """A one-part fake built-in model, already assembled and verified in ``tmp_path``."""
    part = tmp_path / "part01.bin"
    part.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    blob = part.read_bytes()
    model = dataclasses.replace(
        BUILTIN_MODELS[DEFAULT_MODEL],
        name="fake-model",
        filename="fake-model.gguf",
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        parts=1,
    )
    monkeypatch.setitem(BUILTIN_MODELS, model.name, model)
    ensure_builtin(model, tmp_path, progress=False, parts=[part])
    return model


def test_install_with_the_model_present_assembles_nothing(
    assembled: BuiltinModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_assembly(*args: object, **kwargs: object) -> Path:
        raise AssertionError("assembled again")

    monkeypatch.setattr(assembly, "assemble", no_assembly)

    result = _run(["models", "install", assembled.name], tmp_path)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok  {tmp_path / assembled.filename}\n"


def test_install_passes_names_and_settings_to_install_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[str, ...], Settings, bool]] = []

    def fake_install(names: tuple[str, ...], settings: Settings, progress: bool) -> list[Path]:
        calls.append((tuple(names), settings, progress))
        return [settings.model_dir / f"{n}.gguf" for n in names or ("all",)]

    monkeypatch.setattr(rag.models, "install_models", fake_install)

    assert _run(["models", "install"], tmp_path).stdout == f"ok  {tmp_path / 'all.gguf'}\n"
    result = _run(["models", "install", "a", "b"], tmp_path)

    assert result.stdout.splitlines() == [
        f"ok  {tmp_path / 'a.gguf'}",
        f"ok  {tmp_path / 'b.gguf'}",
    ]
    assert [(names, progress) for names, _, progress in calls] == [((), True), (("a", "b"), True)]
    assert all(settings.model_dir == tmp_path for _, settings, _ in calls)


def test_install_of_an_unknown_model_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run(["models", "install", "no-such-model"], tmp_path)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown built-in model(s): no-such-model;")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_models_without_a_subcommand_lists_like_models_list(
    assembled: BuiltinModel, tmp_path: Path
) -> None:
    bare = _run(["models"], tmp_path)
    listed = _run(["models", "list"], tmp_path)

    assert bare.exit_code == listed.exit_code == 0
    assert bare.stdout == listed.stdout
    lines = bare.stdout.splitlines()
    assert lines[-2].startswith("refusal gate: ")  # which gate answers with the default model
    assert lines[-1].startswith("sentence screen: ")  # and which screen reads its passages
    rows = {line.split()[1 if line.startswith("*") else 0]: line for line in lines[:-2]}
    assert set(rows) == set(BUILTIN_MODELS)
    assert rows[DEFAULT_MODEL].startswith("* ")
    assert (
        " ok " in rows[assembled.name]
        and str(tmp_path / assembled.filename) in rows[assembled.name]
    )
    assert _run(["models", "--verify"], tmp_path).stdout == bare.stdout


def test_python_m_rag_cli_models_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "models", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )

    assert out.stdout.startswith("Usage: rag models ")
    for sub in ("install", "list"):
        assert f"  {sub} " in out.stdout


@pytest.mark.parametrize("command", ["ask", "ingest", "eval", "serve"])
def test_python_m_rag_cli_runs_every_command(command: str) -> None:
    """``python -m rag.cli`` defines all commands before it runs (it once ran before them)."""
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", command, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Usage: rag {command} ")
