"""PDF files (pypdf): text per page, every chunk and citation knows its page, shown as "p. 3"
in the terminal, the web page and the JSON; scanned, fake and damaged PDFs are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from docmaker import make_pdf

from rag.chat import print_sources
from rag.chunking import chunk_document
from rag.citations import check_citations
from rag.cli import cli
from rag.documents import load_paths
from rag.documents.pages import page_at, page_spans, paged_text
from rag.documents.pdf import page_texts
from rag.errors import InputError
from rag.index import Index
from rag.ingest import ingest
from rag.retrieve import search
from rag.settings import Settings
from rag.types import Answer
from ui.render import render_source

PAGE1 = (
    "Banjir melanda Jakarta Timur pada Senin pagi setelah hujan deras semalam.\n\n"
    "Ketinggian air mencapai dua meter di beberapa wilayah dan ribuan warga mengungsi ke "
    "tempat yang lebih aman sejak dini hari."
)
PAGE3 = (
    "Pemerintah provinsi menyiapkan empat puluh pompa air tambahan untuk mengatasi genangan "
    "di wilayah timur kota."
)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A three-page PDF: text, a page without text (a scanned image), text; a running header
    and page numbers on the pages with text."""
    return make_pdf(
        tmp_path / "docs" / "laporan.pdf",
        [PAGE1, None, PAGE3],
        title="Laporan Banjir Jakarta",
        header="Harian Contoh",
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_pages_of_a_pdf_become_the_pages_of_its_chunks(report: Path) -> None:
    [doc] = load_paths([report])
    assert doc.id == "laporan.pdf" and doc.title == "Laporan Banjir Jakarta"
    assert doc.path == str(report.resolve())
    # the running header and the page numbers are not text of the article
    assert "Harian Contoh" not in doc.text and "Halaman" not in doc.text
    assert [page for _, _, page in page_spans(doc.text)] == [1, 3]
    chunks = chunk_document(doc, size=120, overlap=0)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert "\f" not in chunk.text
        assert chunk.page == page_at(doc.text, chunk.start)
        expected = 1 if chunk.text in _flat(PAGE1) else 3
        assert chunk.text in _flat(PAGE1 if expected == 1 else PAGE3)
        assert chunk.page == expected
    assert {c.page for c in chunks} == {1, 3}


def test_page_helpers_number_empty_pages_too() -> None:
    text = paged_text(["satu", "", "tiga\fdengan break", "  "])
    assert text == "satu\f\ftiga dengan break\f\f"
    assert page_spans(text) == [(0, 4, 1), (6, 23, 3)]
    assert page_at(text, 7) == 3 and page_at(text, 0) == 1
    assert page_spans("tanpa halaman") == [(0, 13, None)] and page_at("x", 0) is None


def test_a_scanned_pdf_is_one_line_naming_it(tmp_path: Path) -> None:
    scan = make_pdf(tmp_path / "scan.pdf", [None, None])
    with pytest.raises(InputError) as err:
        list(load_paths([scan]))
    message = str(err.value)
    assert "scan.pdf has no text layer" in message and "OCR" in message and "\n" not in message


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"Just some text named .pdf", "is not a PDF"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "cannot read .* as a PDF"),
    ],
)
def test_fake_and_damaged_pdfs_are_one_line(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(data)
    with pytest.raises(InputError, match=why) as err:
        list(load_paths([path]))
    assert "\n" not in str(err.value)


def test_a_password_protected_pdf_is_one_line_and_an_owner_lock_alone_is_read(
    report: Path, tmp_path: Path
) -> None:
    from pypdf import PdfWriter

    for user, name in (("rahasia", "locked.pdf"), ("", "owner-only.pdf")):
        writer = PdfWriter(clone_from=report)
        writer.encrypt(user, owner_password="pemilik", algorithm="RC4-128")
        writer.write(tmp_path / name)
    with pytest.raises(InputError, match=r"locked.pdf is password-protected; save a copy"):
        list(load_paths([tmp_path / "locked.pdf"]))
    [doc] = load_paths([tmp_path / "owner-only.pdf"])  # opens without a password
    assert "pompa air tambahan" in doc.text


def test_numbers_alone_inside_a_page_stay_and_page_numbers_go() -> None:
    pages = page_texts(
        [
            "Harian Contoh\nJumlah pengungsi per kelurahan:\n1.250\n980\nAkhir tabel.\n1",
            "Harian Contoh\nHalaman berikutnya berisi kalimat biasa.\n- 2 -",
        ]
    )
    assert "1.250" in pages[0] and "980" in pages[0] and not pages[0].endswith("1")
    assert pages[1] == "Halaman berikutnya berisi kalimat biasa."


def test_a_pdf_over_the_file_limit_is_refused_before_reading(report: Path) -> None:
    with pytest.raises(InputError, match="over the 0.0001 MB limit"):
        list(load_paths([report], max_file_bytes=100))


def test_page_travels_through_index_retrieval_citations_and_every_front_end(
    report: Path, settings: Settings
) -> None:
    ingest([report.parent], settings)
    index = Index.load(settings.index_dir, settings.embed_model)
    assert {row.page for row in index.data.rows} == {1, 3}  # stored and read back
    hits = search("pompa air tambahan genangan", settings.merged(k=1), k=1)
    assert hits[0].doc_id == "laporan.pdf" and hits[0].page == 3
    checked = check_citations(
        "Pemerintah menyiapkan empat puluh pompa air tambahan [1].", hits, "pompa air"
    )
    [citation] = checked.citations
    assert citation.page == 3
    answer = Answer(question="q", text=checked.text, citations=checked.citations, sources=hits)
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["citations"][0]["page"] == 3 and data["sources"][0]["page"] == 3
    printed: list[str] = []
    print_sources(answer, echo=lambda s="", **_: printed.append(s))
    assert "laporan.pdf p. 3 chars" in printed[0]
    html = render_source(1, 1, hits[0], [citation], lambda _id: None, "en")
    assert '<span class="rag-src-page">p. 3</span>' in html
    assert "hlm. 3" in render_source(1, 1, hits[0], [citation], lambda _id: None, "id")
    plain = search("Banjir Jakarta Timur", settings, k=1)[0]
    assert plain.page == 1
    env = {"RAG_INDEX_DIR": str(settings.index_dir), "RAG_EMBED_MODEL": settings.embed_model}
    listed = CliRunner().invoke(cli, ["search", "pompa air tambahan", "--k", "1"], env=env)
    assert listed.exit_code == 0 and "laporan.pdf#" in listed.output
    assert "p. 3  chars" in listed.output.splitlines()[0]
