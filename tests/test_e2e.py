"""End to end on the real default model and the committed index of the seeds: the product as a
user meets it through ask()."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import ask
from rag.eval import answer_correct
from rag.index import Index

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "index"

pytestmark = pytest.mark.slow


def test_default_model_answers_with_a_checked_citation() -> None:
    question = {
        "question": "Di hotel mana Simposium Nasional Migration Governance for Sustainable "
        "Development diadakan?",
        "answers": ["Fairmont"],
        "match": "any",
    }
    answer = ask(question["question"], index_dir=INDEX)
    assert not answer.refused, answer.model_text
    assert answer_correct(question, answer.text), answer.text
    assert answer.citations
    index = Index.load(INDEX)
    for c in answer.citations:
        assert c.doc_id == "001_01c077a90a88fb6e.txt"
        assert index.document_text(c.doc_id)[c.start : c.end] == c.quote
    assert 0 < answer.first_token_s <= answer.total_s


def test_default_model_refuses_what_the_articles_do_not_say() -> None:
    answer = ask("Siapa presiden Indonesia pada tahun 2019?", index_dir=INDEX)
    assert answer.refused, answer.model_text
    assert answer.citations == []
    assert answer.text.startswith("Maaf")


def test_the_shipped_probe_refuses_a_near_topic_question_before_any_word() -> None:
    """The budget of a programme the articles describe, but never give: the evidence gate lets
    it through (its topic is there); the probe of the model's reading refuses it, and the
    refusal is all that is streamed."""
    from rag import ask_stream
    from rag.gate import gate_status
    from rag.settings import get_settings

    assert "evidence + probe" in gate_status(get_settings(index_dir=INDEX))
    events = list(
        ask_stream("Berapa anggaran program Digital Entrepreneurship Academy?", index_dir=INDEX)
    )
    answer = events[-1]
    assert answer.refused and answer.refused_by == "probe", answer.lacks_answer_p
    assert [e for e in events if isinstance(e, str)] == [answer.text]
    # an answerable question on the same articles passes the probe
    answered = ask("Apa tema program pelatihan Colombo Plan tahun ini?", index_dir=INDEX)
    assert not answered.refused and answered.lacks_answer_p is not None
    assert answered.lacks_answer_p < 0.75
