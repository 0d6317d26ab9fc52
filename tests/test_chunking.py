"""Chunks: offsets into the cleaned text, sentence boundaries, no empty or mid-word chunks."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rag.chunking import Chunk, chunk_document
from rag.documents import Document, load_paths
from rag.errors import InputError
from rag.settings import Settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _doc(text: str, doc_id: str = "d") -> Document:
    return Document(id=doc_id, text=text, title="t")


def _check(doc: Document, chunks: list[Chunk], size: int, overlap: int) -> None:
    text = doc.text
    assert [c.id for c in chunks] == [f"{doc.id}#{i}" for i in range(len(chunks))]
    covered = [False] * len(text)
    prev_start = -1
    for c in chunks:
        assert c.doc_id == doc.id
        assert text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert c.start > prev_start
        prev_start = c.start
        # Starts and ends at a word boundary.
        assert c.start == 0 or text[c.start - 1].isspace()
        assert c.end == len(text) or text[c.end].isspace()
        # Longer than size only when it is one unbreakable word.
        assert len(c.text) <= size or not re.search(r"\s", c.text)
        for i in range(c.start, c.end):
            covered[i] = True
    # No letter or digit of the document is lost.
    assert all(covered[i] for i, ch in enumerate(text) if ch.isalnum())
    if overlap == 0:
        assert all(a.end <= b.start for a, b in zip(chunks, chunks[1:], strict=False))


@pytest.fixture(scope="module")
def seeds() -> list[Document]:
    return list(load_paths([SEEDS]))


@pytest.mark.parametrize(("size", "overlap"), [(480, 0), (200, 0), (200, 60), (100, 20), (1000, 0)])
def test_seed_chunks_point_into_the_text(seeds: list[Document], size: int, overlap: int) -> None:
    for doc in seeds:
        _check(doc, chunk_document(doc, size, overlap), size, overlap)


def test_default_size_is_the_settings_default(seeds: list[Document]) -> None:
    size = Settings.model_fields["chunk_size"].default
    for doc in seeds:
        assert chunk_document(doc) == chunk_document(doc, size, 0)
        assert max(len(c.text) for c in chunk_document(doc)) <= size


def test_seed_chunks_end_at_sentence_ends(seeds: list[Document]) -> None:
    for doc in seeds:
        for c in chunk_document(doc, 480, 0):
            # A list item ends with ";" and a quote with "," before the speech verb; every chunk
            # still ends at the end of a sentence, clause or paragraph.
            assert re.search(r"[.!?;:,)”\"]$", c.text), c.text[-60:]


def test_overlap_makes_neighbours_share_text(seeds: list[Document]) -> None:
    doc = seeds[1]
    chunks = chunk_document(doc, 200, 80)
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))


VOCAB = (
    "the a of and perempuan kerja sama Indonesia Jakarta café naïve Straße 東京 데이터 "
    "emoji🙂 GDP 9.660 (IR) “kutipan” x"
).split()
ENDS = [". ", "? ", "! ", "; ", ", ", " ", " ", " ", ".\n", "\n\n", "\r\n", ".\r\n\r\n", "  "]


def _random_text(rng: random.Random) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, 400)):
        word = rng.choice(VOCAB)
        if rng.random() < 0.01:
            word = "w" * rng.randint(50, 700)  # a "word" longer than the chunk size
        parts.append(word)
        parts.append(rng.choice(ENDS))
    text = "".join(parts)
    if rng.random() < 0.3:
        text = rng.choice([" ", "\n", "\r\n "]) + text
    return text


def test_random_texts_keep_offsets_and_boundaries() -> None:
    rng = random.Random(1234)
    for n in range(400):
        text = _random_text(rng)
        size = rng.randint(20, 600)
        overlap = rng.choice([0, 0, rng.randint(0, size - 1)])
        doc = _doc(text, f"doc{n}")
        _check(doc, chunk_document(doc, size, overlap), size, overlap)


def test_sentences_are_not_cut_when_they_fit() -> None:
    rng = random.Random(7)
    sentences = [
        " ".join(rng.choice(VOCAB[:9]) for _ in range(rng.randint(3, 25))).capitalize() + "."
        for _ in range(60)
    ]
    doc = _doc(" ".join(sentences))
    chunks = chunk_document(doc, 300, 0)
    assert len(chunks) > 5
    for c in chunks:
        assert c.text.endswith(".")
        assert c.text[0].isupper()


def test_long_sentence_is_split_at_commas_first() -> None:
    clause = "kata kata kata kata kata kata kata kata kata"
    doc = _doc(", ".join([clause] * 20) + ".")
    chunks = chunk_document(doc, 150, 0)
    assert len(chunks) > 1
    assert all(c.text.endswith((",", ".")) for c in chunks)
    assert all(c.text.startswith("kata") for c in chunks)


def test_empty_and_blank_documents_have_no_chunks() -> None:
    assert chunk_document(_doc("")) == []
    assert chunk_document(_doc(" \n\r\n\t ")) == []
    assert chunk_document(_doc("... — !!")) == []


def test_short_text_is_one_chunk() -> None:
    text = "  Satu kalimat pendek.\n\nDua.  "
    [chunk] = chunk_document(_doc(text, "s.txt"))
    assert chunk == Chunk("s.txt#0", "s.txt", "Satu kalimat pendek.\n\nDua.", 2, 28)


def test_unicode_offsets_are_code_points() -> None:
    text = "Tōkyō 東京 🙂 naïve. " * 40
    doc = _doc(text.strip())
    chunks = chunk_document(doc, 100, 0)
    _check(doc, chunks, 100, 0)
    assert all(c.text.startswith("Tōkyō") for c in chunks)


def test_crlf_text() -> None:
    text = "First paragraph line one.\r\nLine two.\r\n\r\nSecond paragraph here.\r\n"
    doc = _doc(text)
    chunks = chunk_document(doc, 30, 0)
    _check(doc, chunks, 30, 0)
    assert all("\r" not in c.text[-1:] + c.text[:1] for c in chunks)
    assert [c.text for c in chunks] == [
        "First paragraph line one.",
        "Line two.",
        "Second paragraph here.",
    ]


def test_short_leftovers_join_a_neighbour() -> None:
    sentence = "Kalimat ini cukup panjang untuk mengisi sebagian besar dari satu potongan teks."
    first = " ".join([sentence] * 6)  # longer than 480 characters: split into sentences
    clause = "klausa yang panjangnya kira-kira lima puluh huruf"
    last = ", ".join([clause] * 14) + ". (AP)"  # one sentence longer than the size
    doc = _doc(f"Judul Pendek\n\n{first}\n\n{last}")
    chunks = chunk_document(doc, 480, 0)
    _check(doc, chunks, 480, 0)
    assert chunks[0].text.startswith("Judul Pendek\n\nKalimat ini")
    assert chunks[-1].text.endswith("huruf. (AP)")


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_bad_parameters(size: int, overlap: int) -> None:
    with pytest.raises(InputError):
        chunk_document(_doc("Some text."), size, overlap)
