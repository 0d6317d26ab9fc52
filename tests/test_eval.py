"""Scoring rules of ../shared/bench/README.md and the retrieval metrics of run_eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_jsonl

from rag.errors import InputError
from rag.eval import _percentile, answer_correct, fact_matches, load_questions, normalise, run_eval
from rag.ingest import ingest
from rag.settings import Settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello,\n\t  World! ", "hello world"),
        ("JAKARTA", "jakarta"),
        ("Rp 9.660,- juta", "rp 9.660 juta"),
        ("naik 2,1 persen.", "naik 2,1 persen"),
        ("periode 2020-2021", "periode 2020-2021"),
        ("tanggal 16/8", "tanggal 16/8"),
        ("1,000,000", "1,000,000"),
        ("tahun 2015.", "tahun 2015"),
        ("(61)", "61"),
        ("3.5%", "3.5"),
        ("\"kutipan\" dan 'lain'", "kutipan dan lain"),
        ("Jakarta-Bogor", "jakarta bogor"),
        ("a/b", "a b"),
        ("5, 6", "5 6"),
        ("Women-owned SMIs", "women owned smis"),
        ("Kolombia; Meksiko", "kolombia meksiko"),
        ("", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_fact_alternatives_and_substrings() -> None:
    assert fact_matches("Chile", "Anggotanya: CHILE, Kolombia.")
    assert fact_matches("Cile|Chile", "chile")
    assert not fact_matches("Peru", "Kolombia dan Meksiko")
    assert fact_matches("2015", "Sejak tahun 2015.")
    assert fact_matches("9.660", "sebanyak 9.660 orang")
    assert not fact_matches("9.660", "sebanyak 9660 orang")
    assert fact_matches("Williams-Darling", "Tonique Williams Darling")
    assert fact_matches("1990-an", "sejak tahun 1990 - an")
    assert not fact_matches("|", "anything")  # empty alternatives never match


def test_answer_correct_any_and_all() -> None:
    all_q = {"answers": ["Chile", "Kolombia", "Meksiko", "Peru"], "match": "all"}
    assert answer_correct(all_q, "Chile, Kolombia, Meksiko dan Peru.")
    assert not answer_correct(all_q, "Chile, Kolombia dan Meksiko.")
    any_q = {"answers": ["61", "enam puluh satu"], "match": "any"}
    assert answer_correct(any_q, "Ada enam puluh satu peserta.")
    assert not answer_correct(any_q, "Ada 13 negara.")
    both = {"answers": ["61", "13"], "match": "all"}
    assert answer_correct(both, "61 peserta dari 13 negara")
    assert not answer_correct(both, "61 peserta")


def test_load_questions(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b"}\n{"id": "c"}\n', encoding="utf-8")
    assert [q["id"] for q in load_questions(path)] == ["a", "b", "c"]
    assert [q["id"] for q in load_questions(path, limit=2)] == ["a", "b"]
    path.write_text('{"id": "a"}\n{"id": oops}\n', encoding="utf-8")
    with pytest.raises(InputError, match=":2 "):
        load_questions(path)


def test_percentile() -> None:
    assert _percentile([], 0.5) == 0.0
    assert _percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert _percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)


def test_run_eval_retrieval_metrics(corpus: Path, settings: Settings, tmp_path: Path) -> None:
    (corpus / "copy-of-a02.txt").write_text("  " + (corpus / "a02.txt").read_text() + "\n")
    ingest([corpus], settings)

    def q(qid: str, question: str, match: str, sources: list[str], answer: str = "qqq") -> dict:
        return {
            "id": qid,
            "question": question,
            "answers": [answer],
            "match": match,
            "sources": sources,
        }

    questions = write_jsonl(
        tmp_path / "q.jsonl",
        [
            q("q1", "penanda0001", "any", ["a01.txt"], answer="PENANDA0001"),
            q("q2", "penanda0003", "any", ["a03.txt"]),
            q("q3", "penanda0004", "all", ["nowhere.txt"]),  # not indexed: a miss, RR 0
            q("q4", "penanda0002", "any", ["copy-of-a02.txt"]),  # stored as a02.txt's text
            q("u1", "siapa presiden Mars", "refuse", []),
        ],
    )
    result = run_eval(questions, settings, retrieval_only=True, mode="bm25")
    assert result["questions"] == 4
    assert result["recall_at_5"] == pytest.approx(3 / 4, abs=1e-4)
    assert result["mrr_at_10"] == pytest.approx(3 / 4, abs=1e-4)
    assert result["answer_in_top_5"] == pytest.approx(1 / 4, abs=1e-4)  # only q1's answer
    assert 0 < result["search_p50_ms"] <= result["search_p95_ms"]
    assert "answer_accuracy" not in result
    limited = run_eval(questions, settings, retrieval_only=True, limit=1, mode="bm25")
    assert limited["questions"] == 1 and limited["recall_at_5"] == 1.0
    json.dumps(result)  # serialisable as written by `rag eval --json`


def test_squad_scores_compare_with_the_gold_span_like_the_field() -> None:
    from rag.eval import squad_scores

    q = {"answers": ["Hezb-ul Mujahedeen|Hizbul Mujahidin"], "match": "any"}
    assert squad_scores(q, "Hezb-ul Mujahedeen [1].") == (1.0, 1.0)  # citations, punctuation
    em, f1 = squad_scores(q, "Kelompok Hezb-ul Mujahedeen bertanggung jawab [1].")
    assert em == 0.0 and f1 == pytest.approx(2 * (3 / 6) * 1 / (3 / 6 + 1))
    assert squad_scores(q, "The Hizbul Mujahidin") == (1.0, 1.0)  # English articles dropped
    assert squad_scores(q, "Tidak ada.") == (0.0, 0.0)
