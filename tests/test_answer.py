"""ask() and ask_stream() over a real index of the seeds, with a fake LLM."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import rag.llm
from rag import ask, ask_stream
from rag.answer import Answer, Sources
from rag.errors import InputError
from rag.index import Index
from rag.ingest import ingest
from rag.prompt import NOT_FOUND, REFUSALS, RETRY_HINT
from rag.settings import get_settings
from tests.fakes import FakeLLM, PromptMessages, passage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("answer") / "index"
    ingest([SEEDS], get_settings(index_dir=path))
    return path


def use_llm(monkeypatch: pytest.MonkeyPatch, reply) -> FakeLLM:
    llm = FakeLLM(reply)
    monkeypatch.setattr(rag.llm, "get_llm", lambda settings: llm)
    return llm


def first_sentence_of_passage_1(messages) -> str:
    return passage(messages, 1).split(". ")[0].rstrip(".") + " [1]."


def test_answer_cites_the_exact_span(seeds_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_llm(monkeypatch, first_sentence_of_passage_1)
    answer = ask("Negara apa saja yang menjadi anggota Aliansi Pasifik?", index_dir=seeds_index)
    assert not answer.refused
    assert answer.citations, answer.text
    index = Index.load(seeds_index)
    for c in answer.citations:
        assert index.document_text(c.doc_id)[c.start : c.end] == c.quote
        assert c.quote.strip()
        assert c.chunk_id.startswith(c.doc_id + "#")
        assert c.doc_id == answer.sources[c.n - 1].doc_id
    assert answer.sources[0].doc_id == "000_a9ce33f359e193a2.txt"
    assert answer.retrieve_s > 0 and answer.total_s >= answer.first_token_s > 0
    assert answer.tokens > 0


def test_stream_yields_sources_then_text_then_answer(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, first_sentence_of_passage_1)
    events = list(ask_stream("Di hotel mana simposium migrasi diadakan?", index_dir=seeds_index))
    assert isinstance(events[0], Sources) and events[0].hits
    assert all(isinstance(e, str) for e in events[1:-1]) and len(events) > 3
    assert isinstance(events[-1], Answer)
    assert events[-1].sources == events[0].hits


def test_invalid_citations_and_unsupported_sentences_are_dropped(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reply(messages) -> str:
        fact = passage(messages, 1).split(". ")[0].rstrip(".")
        return f"{fact} [9]. Zebra quantum xylophone [1]."

    use_llm(monkeypatch, reply)
    answer = ask("Negara apa saja yang menjadi anggota Aliansi Pasifik?", index_dir=seeds_index)
    assert "[9]" not in answer.text
    # the first sentence lost its bogus [9] but got the passage that supports it
    assert answer.text.split(".")[0].endswith("[1]")
    assert "xylophone" not in answer.text  # no passage supports it: dropped
    assert {c.n for c in answer.citations} == {1} and not answer.refused


def test_uncited_answer_gets_best_supporting_passage(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, lambda m: passage(m, 2).split(". ")[0].rstrip(".") + ".")
    answer = ask("Berapa negara observer Aliansi Pasifik?", index_dir=seeds_index)
    assert answer.citations and answer.citations[0].n == 2
    assert "[2]" in answer.text


def test_model_refusal_is_a_refusal_in_the_question_language(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, lambda m: NOT_FOUND)
    events = list(ask_stream("Siapa presiden Indonesia pada tahun 2019?", index_dir=seeds_index))
    answer = events[-1]
    assert answer.refused and answer.text == REFUSALS["id"] and not answer.citations
    assert not any(NOT_FOUND in e for e in events if isinstance(e, str))
    answer = ask("Who was the president of France in 1990?", index_dir=seeds_index)
    assert answer.refused and answer.text == REFUSALS["en"]


def test_answer_from_model_memory_is_refused(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, lambda m: "Presiden Indonesia pada tahun 2019 adalah Joko Widodo [1].")
    answer = ask("Siapa presiden Indonesia pada tahun 2019?", index_dir=seeds_index)
    assert answer.refused and not answer.citations


def test_follow_up_is_rewritten_against_history(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = use_llm(monkeypatch, first_sentence_of_passage_1)
    history = [
        {"role": "user", "content": "Komnas Perempuan bekerja sama dengan INFID?"},
        {"role": "assistant", "content": "Ya [1]."},
    ]
    answer = ask("Siapa yang mewakilinya?", history=history, index_dir=seeds_index)
    assert "INFID" in answer.search_query
    assert answer.sources[0].doc_id == "004_3ce22eceb3ce4dae.txt"
    assert "Komnas Perempuan bekerja sama dengan INFID?" in llm.prompts[-1][-1]["content"]
    standalone = ask(
        "Di hotel mana simposium migrasi diadakan?", history=history, index_dir=seeds_index
    )
    assert standalone.search_query == "Di hotel mana simposium migrasi diadakan?"


def test_bad_questions_are_one_line_errors(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, lambda m: "x")
    with pytest.raises(InputError, match="empty"):
        ask("   ", index_dir=seeds_index)
    for only_marks in ("???", "?!. ..."):
        with pytest.raises(InputError, match="has no words"):
            ask(only_marks, index_dir=seeds_index)
    for other_script in ("太平洋联盟有哪些成员国?", "Какие страны входят в Тихоокеанский альянс?"):
        with pytest.raises(InputError, match="ask in Indonesian or English"):
            ask(other_script, index_dir=seeds_index)
    # Accented Latin letters and digits are words the articles can hold.
    assert isinstance(ask("Café Aliansi Pasifik 2015?", index_dir=seeds_index), Answer)
    with pytest.raises(InputError, match="characters long") as err:
        ask("kata " * 5000, index_dir=seeds_index)
    assert "\n" not in str(err.value)
    # Under the character limit but over the model's budget for a question.
    with pytest.raises(InputError, match="tokens long") as err:
        ask("kata " * 5000, index_dir=seeds_index, max_question_chars=100_000)
    assert "\n" not in str(err.value)


def test_closing_the_stream_stops_generation(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = use_llm(monkeypatch, lambda m: "satu dua tiga empat lima enam tujuh delapan")
    stream = ask_stream("Berapa negara observer Aliansi Pasifik?", index_dir=seeds_index)
    for event in stream:
        if isinstance(event, str):
            break
    stream.close()
    assert llm.closed_early


def test_concurrent_questions_do_not_mix(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, first_sentence_of_passage_1)
    questions = {
        "Di hotel mana Simposium Nasional Migration Governance diadakan?": "001_",
        "Siapa yang mewakili INFID dalam penandatanganan dengan Komnas Perempuan?": "004_",
        "Berapa peserta program Colombo Plan tahun 2021?": "002_",
    }
    results: dict[str, Answer] = {}

    def run(q: str) -> None:
        results[q] = ask(q, index_dir=seeds_index)

    threads = [threading.Thread(target=run, args=(q,)) for q in questions for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for q, prefix in questions.items():
        assert results[q].question == q
        assert results[q].sources[0].doc_id.startswith(prefix)
        assert results[q].citations[0].doc_id.startswith(prefix)


def test_a_copy_of_the_question_is_held_back_and_asked_again(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "Sejak tahun berapa Indonesia menjadi negara observer Aliansi Pasifik?"

    def reply(messages) -> str:
        if RETRY_HINT in messages[-1]["content"]:
            return "Sejak tahun 2015 [1]."
        return question + " [1]"

    llm = use_llm(monkeypatch, reply)
    llm.split_words = True  # pieces like llama.cpp tokens: "Dar" "i "
    events = list(ask_stream(question, index_dir=seeds_index))
    text = "".join(e for e in events if isinstance(e, str))
    answer = events[-1]
    assert len(llm.prompts) == 2
    assert llm.prompts[1][-1]["content"].startswith(llm.prompts[0][-1]["content"])
    assert text == "Sejak tahun 2015 [1]."  # the copy never reached the user
    assert "2015" in answer.text and not answer.refused
    # The model's first token came with the copy; the first word shown, with the second reply.
    assert 0 < answer.model_first_s < answer.first_token_s


def test_an_answer_that_reuses_question_words_is_not_asked_again(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = use_llm(monkeypatch, lambda m: "Indonesia menjadi negara observer sejak 2015 [1].")
    events = list(
        ask_stream(
            "Sejak tahun berapa Indonesia menjadi negara observer Aliansi Pasifik?",
            index_dir=seeds_index,
        )
    )
    assert len(llm.prompts) == 1
    assert "".join(e for e in events if isinstance(e, str)).startswith("Indonesia menjadi")


OBSERVER = "Sejak tahun berapa Indonesia menjadi negara observer Aliansi Pasifik?"


def states_then_full(
    monkeypatch: pytest.MonkeyPatch, states: Callable[[list], str], full: str
) -> list[str | None]:
    """Answer from "stored states" with ``states(messages)`` and from a full reading with
    ``full``, streamed word by word; returns the modes of the readings asked for."""
    import rag.generate

    modes: list[str | None] = []

    def answer_stream(llm, settings, prompt, *, mode=None):  # noqa: ANN001, ANN202
        modes.append(mode)
        reply = states(PromptMessages(prompt)) if mode is None else full
        yield from [w + " " for w in reply.split(" ")]

    use_llm(monkeypatch, lambda m: "unused")
    monkeypatch.setattr(rag.generate, "answer_stream", answer_stream)
    monkeypatch.setattr(rag.generate, "uses_states", lambda llm, settings, hits: True)
    return modes


STATES_ANSWERS = [
    NOT_FOUND,
    "Tentu, saya akan menjawab pertanyaan Anda:\n\nTentu, saya akan",  # never gives a year
    "Indonesia menjadi negara observer sejak 2015 bersama Zimbabwe [1].",  # no passage says
]


@pytest.mark.parametrize("states_reply", STATES_ANSWERS)
@pytest.mark.parametrize("full_reply", ["Sejak tahun 2015 [1].", NOT_FOUND])
def test_a_refusal_from_stored_states_is_checked_by_a_full_reading(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch, states_reply: str, full_reply: str
) -> None:
    modes = states_then_full(monkeypatch, lambda m: states_reply, full_reply)
    events = list(ask_stream(OBSERVER, index_dir=seeds_index, answer_mode="auto"))
    assert modes == [None, "full"]
    answer = events[-1]
    assert answer.refused is (full_reply == NOT_FOUND)
    shown = "".join(e for e in events if isinstance(e, str))
    assert NOT_FOUND not in shown
    if "2015" not in states_reply:  # nothing was shown yet: the full reading streams
        assert shown.strip() == ("" if answer.refused else full_reply)
    else:  # the states' text was shown: the full reading is not appended to it
        assert shown.startswith("Indonesia menjadi negara observer sejak 2015")
        assert "Sejak tahun" not in shown
    if not answer.refused:
        assert "2015" in answer.text


def test_a_supported_answer_from_stored_states_is_not_read_again(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes = states_then_full(monkeypatch, lambda m: "Sejak tahun 2015 [1].", "unused")
    answer = ask(OBSERVER, index_dir=seeds_index, answer_mode="auto")
    assert modes == [None] and not answer.refused


def test_an_unsupported_answer_from_stored_states_is_read_again_in_full(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # from states: a year no passage holds; in full: the passage's year
    modes = states_then_full(monkeypatch, lambda m: "Sejak tahun 2012 [1].", "2015 [1].")
    answer = ask(OBSERVER, index_dir=seeds_index, answer_mode="auto")
    assert modes == [None, "full"]
    assert not answer.refused and "2015" in answer.text and "2012" not in answer.text


def test_first_token_is_the_first_word_shown_not_the_full_readings(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    modes = states_then_full(monkeypatch, lambda m: "Sejak tahun 2012 [1].", "2015 [1].")
    import rag.generate

    quick = rag.generate.answer_stream

    def answer_stream(llm, settings, prompt, *, mode=None):  # noqa: ANN001, ANN202
        if mode == "full":
            time.sleep(0.5)  # the full reading starts well after the states' words are shown
        yield from quick(llm, settings, prompt, mode=mode)

    monkeypatch.setattr(rag.generate, "answer_stream", answer_stream)
    answer = ask(OBSERVER, index_dir=seeds_index, answer_mode="auto")
    assert modes == [None, "full"] and "2015" in answer.text
    # the states' reply showed nothing (a year no passage holds): the first word shown is
    # the full reading's, the model's first token the states' one
    assert 0 < answer.model_first_s < answer.first_token_s - 0.4


def test_an_answer_from_stored_states_citing_another_passage_than_the_closest_is_read_again(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def from_passage_2(messages) -> str:  # noqa: ANN001
        # a supported fact, but from passage [2], while [1] holds the sentence closest to
        # the question (the prompt's "Most relevant sentence: [1] ...")
        assert "Most relevant sentence: [1]" in messages[-1]["content"]
        return passage(messages, 2).split(". ")[0].rstrip(".") + " [2]."

    modes = states_then_full(monkeypatch, from_passage_2, "Sejak tahun 2015 [1].")
    answer = ask(OBSERVER, index_dir=seeds_index, answer_mode="auto")
    assert modes == [None, "full"]
    assert "2015" in answer.text and [c.n for c in answer.citations] == [1]


def test_no_second_reading_without_stored_states(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = use_llm(monkeypatch, lambda m: NOT_FOUND)
    # the fake LLM is no llama.cpp model, so "auto" cannot use states: one reading only
    answer = ask(OBSERVER, index_dir=seeds_index, answer_mode="auto")
    assert answer.refused and len(llm.prompts) == 1


def test_a_question_the_best_sentence_barely_covers_is_refused_before_the_model(
    seeds_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.answer import evidence_signals, select_passages

    llm = use_llm(monkeypatch, lambda m: "Pada tahun 2011 [1].")
    question = "Kapan Aliansi Pasifik didirikan?"
    settings = get_settings(index_dir=seeds_index)
    signal = evidence_signals(question, select_passages(question, settings, len), settings)
    assert 0 < signal["coverage"] < 1  # "Aliansi Pasifik" is there, "didirikan" nowhere
    answer = ask(question, index_dir=seeds_index, min_coverage=signal["coverage"] + 0.01)
    assert answer.refused and not llm.prompts
    answer = ask(question, index_dir=seeds_index, min_coverage=signal["coverage"] - 0.01)
    assert llm.prompts  # the model was asked
