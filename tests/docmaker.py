"""Small PDF and Word files made in the tests (fpdf2 and python-docx), so no binary fixture
has to be trusted: a page's text is exactly what the test says it is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def make_pdf(
    path: Path, pages: Sequence[str | None], title: str | None = None, header: str = ""
) -> Path:
    """A PDF at ``path`` with one page per item of ``pages``: its text, or, for None, a page
    with a drawing and no text (as a scan is). ``header`` is printed atop every page with
    text, and "Halaman n" at its foot (running header and footer)."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for n, text in enumerate(pages, start=1):
        pdf.add_page()
        if text is None:
            pdf.rect(20, 20, 150, 200, style="F")  # a "scanned image": ink, no text
            continue
        if header:
            pdf.cell(0, 10, header, new_x="LMARGIN", new_y="NEXT")
        for paragraph in text.split("\n\n"):
            pdf.multi_cell(0, 8, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        if header:
            pdf.cell(0, 10, f"Halaman {n}")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def make_docx(
    path: Path,
    blocks: Sequence[str | tuple[str, int] | list[list[str]]],
    title: str | None = None,
) -> Path:
    """A .docx at ``path``: a ``str`` is a paragraph, ``(text, level)`` a heading (level 0 is
    the Title style), a list of rows a table."""
    import docx

    word = docx.Document()
    if title:
        word.core_properties.title = title
    for block in blocks:
        if isinstance(block, str):
            word.add_paragraph(block)
        elif isinstance(block, tuple):
            word.add_heading(block[0], level=block[1])
        else:
            table = word.add_table(rows=len(block), cols=len(block[0]))
            for r, row in enumerate(block):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
    path.parent.mkdir(parents=True, exist_ok=True)
    word.save(str(path))
    return path
