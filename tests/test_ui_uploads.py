"""Uploads (ui.uploads): names that cannot leave their folder, refused files, storing with
rollback, and deleting only the app's own copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.settings import get_settings
from ui.uploads import (
    check_upload,
    discard_unused,
    first_problem,
    safe_upload_name,
    store_uploads,
    upload_dir,
)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../etc/evil.txt", "evil.txt"),
        ("..\\..\\win\\evil.md", "evil.md"),
        (".hidden.html", "hidden.html"),
        ("a b<c>|d.TXT", "a_b_c_d.txt"),
        ("/abs/path/x.jsonl", "x.jsonl"),
        ("....", "upload"),
        ("ｆｕｌｌ.txt", "full.txt"),  # NFKC: full-width letters become ASCII
        ("berita", "berita"),
        ("x" * 300 + ".txt", "x" * 100 + ".txt"),
    ],
)
def test_upload_names_cannot_escape(sent: str, stored: str) -> None:
    assert safe_upload_name(sent) == stored


def test_upload_dir_is_beside_the_index(tmp_path: Path) -> None:
    settings = get_settings(index_dir=tmp_path / "idx")
    assert upload_dir(settings) == (tmp_path / "idx-uploads").resolve()


def test_store_uploads_stays_in_folder_and_rolls_back(tmp_path: Path) -> None:
    folder = tmp_path / "index-uploads"
    src = tmp_path / "src.txt"
    src.write_text("baru", encoding="utf-8")
    folder.mkdir()
    (folder / "old.txt").write_text("lama", encoding="utf-8")
    stored, undo = store_uploads(
        [(src, "../../../old.txt"), (src, "../x/new.txt"), (src, "new.txt")], folder
    )
    assert [p.name for p in stored] == ["old.txt", "new.txt", "new-2.txt"]
    assert all(p.parent == folder.resolve() for p in stored)
    assert (folder / "old.txt").read_text(encoding="utf-8") == "baru"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index-uploads", "src.txt"]
    undo()
    assert (folder / "old.txt").read_text(encoding="utf-8") == "lama"
    assert sorted(p.name for p in folder.iterdir()) == ["old.txt"]


def test_a_failed_store_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "up"
    src = tmp_path / "src.txt"
    src.write_text("isi", encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        store_uploads([(src, "a.txt"), (tmp_path / "missing.txt", "b.txt")], folder)
    assert list(folder.iterdir()) == []


def test_check_upload_rejects_bad_files(tmp_path: Path) -> None:
    ok = tmp_path / "ok.md"
    ok.write_text("# Judul\n\nIsi.", encoding="utf-8")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2001)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01PNG")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert check_upload(ok, "ok.md", 2000) is None
    assert check_upload(ok, "ok.exe", 2000) == ("bad_type", {"name": "ok.exe"})
    assert check_upload(big, "big.txt", 2000) == ("too_big", {"name": "big.txt", "mb": "0.002"})
    assert check_upload(binary, "bin.txt", 2000) == ("binary", {"name": "bin.txt"})
    assert check_upload(empty, "empty.txt", 2000) == ("empty", {"name": "empty.txt"})
    assert check_upload(tmp_path / "gone.txt", "gone.txt", 2000) == ("empty", {"name": "gone.txt"})
    assert first_problem([(ok, "ok.md"), (binary, "bin.txt"), (empty, "e.txt")], 2000) == (
        "binary",
        {"name": "bin.txt"},
    )
    assert first_problem([(ok, "ok.md")], 2000) is None


def test_an_upload_over_the_total_limit_is_refused(tmp_path: Path) -> None:
    files = []
    for i in range(5):
        path = tmp_path / f"a{i}.txt"
        path.write_text("Judul\n\n" + "isi berita. " * 100, encoding="utf-8")  # about 1.2 KB
        files.append((path, path.name))
    total = sum(p.stat().st_size for p, _ in files)
    assert first_problem(files, 2000, max_total_bytes=total) is None
    assert first_problem(files, 2000, max_total_bytes=total - 1) == (
        "too_big_total",
        {"mb": f"{total / 1e6:.1f}", "limit": f"{(total - 1) / 1e6:g}"},
    )
    # A single bad file is named first, before the total.
    files.append((tmp_path / "gone.txt", "gone.txt"))
    assert first_problem(files, 2000, max_total_bytes=10)[0] == "empty"


def test_discard_unused_deletes_only_the_apps_copies(tmp_path: Path) -> None:
    folder = tmp_path / "up"
    folder.mkdir()
    mine = folder / "a.txt"
    mine.write_text("x", encoding="utf-8")
    elsewhere = tmp_path / "b.txt"
    elsewhere.write_text("y", encoding="utf-8")
    deleted = discard_unused([str(mine), str(elsewhere), str(folder / "gone.txt")], folder)
    assert deleted == [mine]
    assert not mine.exists() and elsewhere.exists()


def test_utf16_text_and_htm_pages_are_accepted(tmp_path: Path) -> None:
    """UTF-16 text is full of NUL bytes; its BOM tells it from binary data (ingest reads it)."""
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes("Café di Jakarta menjual kopi.".encode("utf-16"))
    page = tmp_path / "page.htm"
    page.write_text("<p>Berita</p>", encoding="utf-8")
    assert check_upload(utf16, "u16.txt", 2000) is None
    assert check_upload(page, "page.htm", 2000) is None
