"""Atomic writes and file hashes (rag/fileio.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rag import fileio


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")
    fileio.atomic_write(target, "new text")
    assert target.read_text() == "new text"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary left


def test_atomic_write_failure_keeps_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError):
        fileio.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_sha256_file_matches_hashlib_and_reports_blocks(tmp_path: Path) -> None:
    blob = b"x" * (fileio.BLOCK_BYTES + 10)
    path = tmp_path / "f"
    path.write_bytes(blob)
    seen: list[int] = []
    assert fileio.sha256_file(path, seen.append) == hashlib.sha256(blob).hexdigest()
    assert seen == [fileio.BLOCK_BYTES, 10]
