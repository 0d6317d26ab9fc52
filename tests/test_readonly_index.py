"""An index on a read-only file system (a real read-only tmpfs mount): questions are answered,
and a write is one line that says what to do. Needs the right to mount (root here); skipped
elsewhere."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import rag.llm
from rag import ask
from rag.errors import IndexStateError
from rag.ingest import ingest, remove
from rag.settings import get_settings
from tests.fakes import FakeLLM, passage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def readonly_index(tmp_path: Path) -> Iterator[Path]:
    built = tmp_path / "built"
    ingest([SEEDS], get_settings(index_dir=built))
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(built, mnt / "index")
        assert _mount("-o", "remount,ro", str(mnt))
        yield mnt / "index"
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], capture_output=True)  # open maps may hold it


def test_a_read_only_index_answers_and_refuses_writes_in_one_line(
    readonly_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(OSError):  # the file system really is read-only
        (readonly_index / "probe").write_text("x")
    llm = FakeLLM(lambda m: passage(m, 1).split(". ")[0].rstrip(".") + " [1].")
    monkeypatch.setattr(rag.llm, "get_llm", lambda settings: llm)
    answer = ask("Negara apa saja yang menjadi anggota Aliansi Pasifik?", index_dir=readonly_index)
    assert answer.citations and not answer.refused

    settings = get_settings(index_dir=readonly_index)
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "baru.txt").write_text("Judul\n\nSebuah artikel baru tentang pelabuhan.\n")
    for write in (lambda: ingest([extra], settings), lambda: remove(["x.txt"], settings)):
        with pytest.raises(IndexStateError, match="read-only|permission") as err:
            write()
        assert "\n" not in str(err.value)
    answer = ask("Negara apa saja yang menjadi anggota Aliansi Pasifik?", index_dir=readonly_index)
    assert answer.citations  # still there, unchanged
