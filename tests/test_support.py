"""The support check (rag.support), its use by check_citations/judge, and the one sentence
scorer (rag.evidence)."""

from __future__ import annotations

import pytest

from rag.citations import check_citations, judge
from rag.evidence import best_sentence, rank_sentences
from rag.support import answers_kind, claim_of, numbers, supports
from rag.types import Hit

GDP = (
    "Aliansi Pasifik memiliki PDB per kapita sebesar USD 9.660. "
    "Pertemuan para menteri berlangsung pada 20/08/2021 secara virtual."
)
MEMBERS = "Aliansi Pasifik terdiri dari Chile, Kolombia, Meksiko, dan Peru."
THEME = "Pemberdayaan ekonomi perempuan pengusaha menjadi tema pelatihan tahun ini."


def hits() -> list[Hit]:
    return [
        Hit("a#0", "a", GDP, 0, len(GDP), 0.9, title="Aliansi Pasifik"),
        Hit("a#1", "a", MEMBERS, 200, 200 + len(MEMBERS), 0.8, title="Aliansi Pasifik"),
        Hit("b#0", "b", THEME, 0, len(THEME), 0.7, title="Colombo Plan"),
    ]


def test_numbers_are_compared_by_their_digits() -> None:
    assert numbers("USD 9.660") == numbers("9,660") == numbers("9660 dolar") == {"9660"}
    assert numbers("20/08/2021") == {"20", "8", "2021"}
    assert numbers("tanpa angka") == set()


def test_a_claim_is_what_the_sentence_adds_to_the_question() -> None:
    claim = claim_of("Anggotanya adalah Chile dan Peru sejak 2012.", "Siapa anggota Aliansi?")
    assert claim.numbers == {"2012"} and claim.names == {"chile", "peru"}
    # the question's own names and numbers are no claim
    assert not claim_of("Aliansi Pasifik berdiri.", "Kapan Aliansi Pasifik berdiri?").names
    assert claim_of("This is stated in passage.").empty
    assert claim_of("Hal ini disebutkan dalam artikel.").empty


@pytest.mark.parametrize(
    ("sentence", "evidence", "supported"),
    [
        ("PDB per kapita USD 9.660.", GDP, True),
        ("PDB per kapita USD 12.000.", GDP, False),  # a number the passage lacks
        ("Anggotanya Chile dan Brasil.", MEMBERS, False),  # a name the passage lacks
        ("Anggotanya Chile dan Kolumbia.", MEMBERS, True),  # a misspelt name
        ("Temanya pemberdayaan ekonomi perempuan.", THEME, True),
        ("Temanya pariwisata bahari berkelanjutan.", THEME, False),  # shares no content word
        ("Ada 3 danau yang dangkal.", "Tiga danau mengalami pendangkalan.", True),  # "tiga"
        ("Dibuka pukul 14:00.", "Acara dibuka pukul 14.00 WIB.", True),
        ("The summit was on 20/08/2021.", GDP, True),  # another language: numbers decide
        ("It is a dish made with rice, meat and spices.", THEME, False),  # nothing checkable
    ],
)
def test_supports(sentence: str, evidence: str, supported: bool) -> None:
    from rag.prompt import detect_language

    same = detect_language(sentence) == detect_language(evidence)
    assert supports(claim_of(sentence, "Apa?"), evidence, same) is supported


def test_unsupported_sentences_are_dropped_and_supported_ones_kept() -> None:
    answer = (
        "Anggotanya Chile dan Peru [2]. Presidennya Joko Widodo [2]. This is stated in passage."
    )
    checked = check_citations(answer, hits(), "Siapa anggota Aliansi Pasifik?")
    assert checked.text == "Anggotanya Chile dan Peru [2]."
    assert [c.n for c in checked.citations] == [2]


def test_a_citation_that_only_shares_a_word_moves_to_the_passage_that_supports() -> None:
    # [1] shares "Aliansi Pasifik" with the sentence but holds none of its names
    checked = check_citations("Aliansi Pasifik beranggotakan Chile dan Peru [1].", hits(), "?")
    assert checked.text == "Aliansi Pasifik beranggotakan Chile dan Peru [2]."


def test_sentences_citing_two_passages_are_supported_together() -> None:
    checked = check_citations("Anggotanya Chile, PDB USD 9.660 [1][2].", hits(), "Apa?")
    assert checked.supported and {c.n for c in checked.citations} == {1, 2}


def test_judge_refuses_not_found_and_unsupported_answers() -> None:
    assert judge("NOT_FOUND", hits(), "Kapan?")[1]
    assert judge("Jumlah penduduknya 50 juta jiwa [1].", hits(), "Berapa penduduk Chile?")[1]
    checked, refused = judge("Nilainya USD 9.660 [1].", hits(), "Berapa PDB per kapita?")
    assert not refused and checked.citations[0].quote == GDP.split(". ")[0] + "."


@pytest.mark.parametrize(
    ("question", "answer", "answered"),
    [
        ("Berapa jumlah negara anggotanya?", "Empat negara", True),
        ("Berapakah PDB per kapitanya?", "USD 9.660", True),
        ("How many members does it have?", "Chile, Colombia, Mexico and Peru.", False),
        ("Berapa anggaran programnya?", "Programnya pelatihan kepemimpinan perempuan.", False),
        ("Kapan pertemuan itu berlangsung?", "Pada hari Jumat pekan lalu.", True),
        ("Kapan pertemuan itu berlangsung?", "Pertemuan itu berlangsung secara virtual.", False),
        ("When was it founded?", "In 2011.", True),
        ("Siapa yang mewakili INFID?", "Misthohizzaman.", True),  # not judged
    ],
)
def test_answers_kind(question: str, answer: str, answered: bool) -> None:
    assert answers_kind(question, answer) is answered


def test_judge_refuses_a_supported_answer_without_the_amount_asked_for() -> None:
    # every word is in [2], but "how many" is not answered by names
    reply = "Anggotanya Chile, Kolombia, Meksiko, dan Peru [2]."
    assert judge(reply, hits(), "Berapa banyak anggota Aliansi Pasifik?")[1]
    assert not judge(reply, hits(), "Siapa saja anggota Aliansi Pasifik?")[1]
    # a follow-up is judged by the user's own words, not the previous question joined to it
    joined = "Berapa PDB Aliansi Pasifik? Siapa anggotanya?"
    assert not judge(reply, hits(), joined, asked="Siapa anggotanya?")[1]


def test_rank_sentences_weights_terms_and_counts_titles() -> None:
    texts = [GDP, THEME]
    ranked = rank_sentences(["temu", "menteri", "virtual"], texts)
    assert (ranked[0].passage, ranked[0].coverage) == (0, 1.0)
    assert GDP[ranked[0].start : ranked[0].end].startswith("Pertemuan")
    # a rare term outweighs two common ones
    weights = {"pdb": 1.0, "kapita": 1.0, "tema": 5.0}
    assert best_sentence(["pdb", "kapita", "tema"], texts, weights).passage == 1
    # the title's terms count for every sentence of its passage
    plain = best_sentence(["colombo", "tema"], texts)
    titled = best_sentence(["colombo", "tema"], texts, titles=["", "Colombo Plan"])
    assert plain.coverage == 0.5 and titled.coverage == 1.0
    assert best_sentence(["zebra"], texts).score == 0
