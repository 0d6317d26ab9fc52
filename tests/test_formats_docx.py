"""Word files (python-docx): paragraphs in order, headings as titles and paragraphs, tables as
rows of text; old .doc, fake, damaged, empty and zip-bomb files are one line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docmaker import make_docx

from rag.chunking import chunk_document
from rag.documents import load_paths
from rag.documents import word as word_module
from rag.errors import InputError

OLE_DOC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600  # how a Word 97-2003 file starts
BODY = (
    "Dinas Pendidikan Kota Bandung membuka pendaftaran sekolah pada 3 Juni 2024 untuk seluruh "
    "jenjang."
)


def test_paragraphs_headings_and_tables_in_order(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "pengumuman.docx",
        [
            ("Pendaftaran Sekolah Dibuka", 0),
            BODY,
            ("Jadwal per jenjang", 1),
            [["Jenjang", "Mulai", "Selesai"], ["SD", "3 Juni", "7 Juni"], ["SMP", "10 Juni", ""]],
            "Orang tua diminta menyiapkan akta kelahiran dan kartu keluarga.",
        ],
    )
    [doc] = load_paths([path])
    assert doc.id == "pengumuman.docx" and doc.title == "Pendaftaran Sekolah Dibuka"
    assert doc.date == "2024-06-03"
    assert doc.text.split("\n\n") == [
        "Pendaftaran Sekolah Dibuka",
        BODY,
        "Jadwal per jenjang",
        "Jenjang | Mulai | Selesai\nSD | 3 Juni | 7 Juni\nSMP | 10 Juni",
        "Orang tua diminta menyiapkan akta kelahiran dan kartu keluarga.",
    ]
    chunks = chunk_document(doc, size=120)
    assert all(doc.text[c.start : c.end] == c.text and c.page is None for c in chunks)
    assert any("SD | 3 Juni | 7 Juni" in c.text for c in chunks)


def test_the_title_property_wins_over_the_first_heading(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "a.docx", [("Judul di badan", 1), BODY], title="Judul berkas")
    assert next(load_paths([path])).title == "Judul berkas"
    plain = make_docx(tmp_path / "b.docx", [BODY])
    assert next(load_paths([plain])).title.startswith("Dinas Pendidikan Kota Bandung")


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
            "old Word .doc file, not .docx; .*save",
        ),
        (b"plain text named .docx", "is not a Word .docx file"),
        (b"PK\x03\x04 cut short", "cannot read .* as a Word document"),
        (_zip({"hello.txt": b"not a Word package"}), "cannot read .* as a Word document"),
    ],
)
def test_bad_word_files_are_one_line(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "bad.docx"
    path.write_bytes(data)
    with pytest.raises(InputError, match=why) as err:
        list(load_paths([path]))
    assert "bad.docx" in str(err.value) and "\n" not in str(err.value)


def test_an_empty_document_and_a_zip_bomb_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = make_docx(tmp_path / "empty.docx", ["", "   "])
    with pytest.raises(InputError, match="empty.docx holds no text"):
        list(load_paths([empty]))
    monkeypatch.setattr(word_module, "MAX_UNPACKED_BYTES", 1_000_000)
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(_zip({"word/document.xml": b" " * 5_000_000}))  # 5 MB of spaces, packed
    assert bomb.stat().st_size < 50_000
    with pytest.raises(InputError, match=r"bomb.docx unpacks to 5 MB, over 1 MB"):
        list(load_paths([bomb]))
