"""Citation checking, name repair, prompt building and language detection."""

from __future__ import annotations

import pytest

from rag.citations import (
    check_citations,
    restates_question,
    snap_names,
    split_sentences,
)
from rag.prompt import (
    NOT_FOUND,
    SYSTEM_PROMPT,
    build_prompt,
    detect_language,
    fit_passages,
    is_follow_up,
    key_sentences,
    rewrite_follow_up,
)
from rag.types import Hit

TEXT_A = (
    "Aliansi Pasifik terdiri dari 4 negara yaitu Chile, Kolombia, Meksiko, dan Peru. "
    "Indonesia menjadi negara observer sejak tahun 2015."
)
TEXT_B = "Simposium berlangsung di Fairmont Hotel Jakarta pada Selasa (23/7)."


def hits() -> list[Hit]:
    return [
        Hit("a.txt#3", "a.txt", TEXT_A, 1000, 1000 + len(TEXT_A), 0.9, title="Aliansi"),
        Hit("b.txt#0", "b.txt", TEXT_B, 0, len(TEXT_B), 0.8, title="Simposium"),
    ]


def test_valid_citation_quotes_the_supporting_sentence_with_document_offsets() -> None:
    checked = check_citations("Indonesia menjadi observer sejak 2015 [1].", hits())
    (c,) = checked.citations
    assert c.n == 1 and c.doc_id == "a.txt" and c.chunk_id == "a.txt#3"
    assert c.quote == "Indonesia menjadi negara observer sejak tahun 2015."
    assert TEXT_A[c.start - 1000 : c.end - 1000] == c.quote
    assert checked.text == "Indonesia menjadi observer sejak 2015 [1]."


def test_out_of_range_and_unrelated_citations_are_dropped() -> None:
    checked = check_citations("Acara di Fairmont Hotel [7]. Anggotanya Chile dan Peru [2].", hits())
    assert "[7]" not in checked.text
    # [2] shares nothing with the Chile sentence: dropped, and [1] supports it instead
    assert checked.text == "Acara di Fairmont Hotel [2]. Anggotanya Chile dan Peru [1]."
    assert [(c.n, c.doc_id) for c in checked.citations] == [(2, "b.txt"), (1, "a.txt")]


def test_grouped_and_trailing_markers_are_understood() -> None:
    assert split_sentences("Chile dan Peru. [1, 2] Fairmont [2].") == [
        "Chile dan Peru [1][2].",
        "Fairmont [2].",
    ]
    checked = check_citations("Yaitu Chile dan Fairmont [1,2]", hits())
    assert {c.n for c in checked.citations} == {1, 2}


def test_sentence_no_passage_supports_is_dropped() -> None:
    checked = check_citations("Zebra xylophone quantum.", hits())
    assert checked.citations == [] and not checked.supported
    assert checked.text == ""


def test_snap_names_fixes_close_misspellings_only() -> None:
    h = [Hit("c#0", "c", "Misthohizzaman mewakili INFID, selaku Direktur Eksekutif.", 0, 9, 1.0)]
    assert snap_names("Mithohizzaman mewakili INFID.", h) == "Misthohizzaman mewakili INFID."
    assert snap_names("Joko Widodo.", h) == "Joko Widodo."


def test_names_from_model_memory_are_not_supported() -> None:
    q = "Siapa presiden Indonesia pada tahun 2019?"
    assert not check_citations("Presiden Indonesia adalah Joko Widodo [1].", hits(), q).supported
    members = check_citations("Anggotanya Chile, Colombia dan Peru.", hits(), "Anggota?")
    assert members.supported and members.citations[0].n == 1  # close spellings count


def test_language_detection() -> None:
    assert detect_language("Negara apa saja yang menjadi anggota Aliansi Pasifik?") == "id"
    assert detect_language("How many observer countries does the Pacific Alliance have?") == "en"
    assert detect_language("Siapa yang mewakili INFID?") == "id"
    assert detect_language("Who represented INFID at the signing?") == "en"


def test_follow_up_detection_and_rewrite() -> None:
    history = [{"role": "user", "content": "Komnas Perempuan bekerja sama dengan siapa?"}]
    assert is_follow_up("Siapa yang mewakilinya?")
    assert is_follow_up("Who signed it?")
    assert not is_follow_up("Di hotel mana Simposium Nasional Migration Governance diadakan?")
    assert rewrite_follow_up("Siapa yang mewakilinya?", history).startswith("Komnas Perempuan")
    assert rewrite_follow_up("Siapa yang mewakilinya?", None) == "Siapa yang mewakilinya?"


def test_prompt_prefix_is_stable_and_passages_are_numbered() -> None:
    a = build_prompt("Apa?", hits(), "id").messages()
    b = build_prompt("What?", hits()[::-1], "en").messages()
    assert a[0] == b[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert NOT_FOUND in SYSTEM_PROMPT
    user = a[1]["content"]
    assert user.index("[1] (Aliansi)") < user.index("[2] (Simposium)") < user.index("Question:")
    assert "Answer in Indonesian" in user and "Answer in English" in b[1]["content"]


def test_fit_passages_respects_the_token_budget() -> None:
    many = hits() * 5
    kept = fit_passages(many, budget_tokens=60, count_tokens=lambda t: len(t) // 4)
    assert 1 <= len(kept) < len(many)
    assert fit_passages(many, budget_tokens=1, count_tokens=len) == many[:1]


@pytest.mark.parametrize(
    ("answer", "copy"),
    [
        ("Dari negara manakah petenis Maria Sharapova berasal? [1]", True),
        ("Maria Sharapova berasal dari", True),  # still could be a copy: held back
        ("[3] [1]", True),
        ("", True),
        ("Maria Sharapova berasal dari Rusia. [1]", False),  # a new name
        ("Indonesia [1]", False),  # a one-word name
        ("Sharapova lahir tahun 1987 [1]", False),  # a new number
        ("NOT_FOUND", False),
        ("Ia lahir di kota kecil [1]", False),  # several new words
    ],
)
def test_restates_question(answer: str, copy: bool) -> None:
    question = "Dari negara manakah petenis Maria Sharapova berasal?"
    assert restates_question(answer, question) is copy


def test_a_cut_last_word_is_not_judged_while_streaming() -> None:
    question = "Dari negara manakah petenis Maria Sharapova berasal?"
    assert not restates_question("Dar", question)  # a finished one-word answer: a name
    assert restates_question("Dar", question, partial=True)
    assert restates_question("Dari negara mana", question, partial=True)
    assert not restates_question("Dari negara Rusia ", question, partial=True)


def test_key_sentences_are_the_passage_sentences_closest_to_the_question() -> None:
    question = "Sejak tahun berapa Indonesia menjadi negara observer?"
    observer = (1, "Indonesia menjadi negara observer sejak tahun 2015.")
    assert key_sentences(question, hits()) == [observer]
    assert key_sentences("Di hotel mana simposium berlangsung?", hits()) == [(2, TEXT_B)]
    assert key_sentences("Zebra?", hits(), 3) == []
    # best first; equal scores keep passage order; sentences sharing nothing are left out
    ranked = key_sentences(question + " Simposium?", hits(), 5)
    assert ranked == [observer, (1, TEXT_A.split(". ")[0] + "."), (2, TEXT_B)]
    assert key_sentences(question + " Simposium?", hits(), 2) == ranked[:2]
    assert key_sentences("Hotel apa?", hits(), 5) == [(2, TEXT_B)]
    user = build_prompt(question, hits(), "id").messages()[1]["content"]
    closest = "Most relevant sentence: [1] Indonesia menjadi negara observer sejak tahun 2015."
    assert user.index("[2] (Simposium)") < user.index(closest) < user.index("Question:")
    user = build_prompt(question + " Simposium?", hits(), "id", key_count=2).messages()[1][
        "content"
    ]
    assert f"Most relevant sentences:\n[1] {observer[1]}\n[1] Aliansi Pasifik" in user
    assert user.index("[2] (Simposium)") < user.index("Most relevant") < user.index("Question:")
    assert "Most relevant" not in build_prompt("Zebra?", hits(), "en").messages()[1]["content"]
    assert (
        "Most relevant"
        not in build_prompt(question, hits(), "en", key_count=0).messages()[1]["content"]
    )
