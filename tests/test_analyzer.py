"""BM25 text analysis: Indonesian stemming, stop-words, English and numbers, the stem cache."""

from __future__ import annotations

import pytest

from rag.analyzer import Analyzer, get_analyzer, stop_words


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_indonesian_affixes_share_a_stem(analyzer: Analyzer) -> None:
    stems = {w: analyzer.tokens(w) for w in ("pemberdayaan", "berdaya", "memberdayakan")}
    assert stems["pemberdayaan"] == stems["berdaya"] == stems["memberdayakan"] == ["daya"]
    assert analyzer.tokens("Pemerintah") == analyzer.tokens("perintah")
    assert analyzer.tokens("pemberdayaan") != analyzer.tokens("pemerintah")


def test_stop_words_are_dropped(analyzer: Analyzer) -> None:
    tokens = analyzer.tokens("Apa yang dilakukan pemerintah dan siapa yang datang ke sana?")
    assert not {"apa", "yang", "dan", "siapa", "ke"} & set(tokens)
    assert "perintah" in tokens
    assert analyzer.tokens("What is the name of the city?") == ["name", "city"]
    assert analyzer.tokens("yang dan the of") == []
    words = stop_words()
    assert {"yang", "berapa", "the", "which"} <= words
    assert "daya" not in words and "city" not in words


def test_english_passes_unchanged(analyzer: Analyzer) -> None:
    assert analyzer.tokens("The Government keeps running the Economy") == [
        "government",
        "keeps",
        "running",
        "economy",
    ]


def test_numbers_and_codes_are_kept(analyzer: Analyzer) -> None:
    tokens = analyzer.tokens("Pada tahun 2015, COVID-19 diikuti 61 peserta dari 13 negara.")
    for kept in ("2015", "covid-19", "61", "13", "negara"):
        assert kept in tokens
    assert analyzer.tokens("9.660 kapal") == ["9", "660", "kapal"]
    assert analyzer.tokens("") == [] and analyzer.tokens("  ,.;!  ") == []


def test_tokens_split_on_punctuation_and_lower_case(analyzer: Analyzer) -> None:
    assert analyzer.tokens("Jakarta,Bandung;SURABAYA") == ["jakarta", "bandung", "surabaya"]
    assert analyzer.tokens("rumah_sakit") == ["rumah", "sakit"]


def test_stem_cache_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = Analyzer()
    calls: list[str] = []
    real = fresh._stemmer.stem

    def counting(word: str) -> str:
        calls.append(word)
        return real(word)

    monkeypatch.setattr(fresh._stemmer, "stem", counting)
    first = fresh.tokens("pemberdayaan masyarakat pemberdayaan")
    assert calls == ["pemberdayaan", "masyarakat"]
    assert fresh._cache["pemberdayaan"] == "daya"
    assert fresh.tokens("Pemberdayaan masyarakat") == first[:2]
    assert calls == ["pemberdayaan", "masyarakat"]
    # Short words and words with digits never reach the stemmer.
    fresh.tokens("ibu 2015 covid-19")
    assert calls == ["pemberdayaan", "masyarakat"]


def test_without_stemming() -> None:
    assert Analyzer(stem=False).tokens("Pemberdayaan dan berdaya") == ["pemberdayaan", "berdaya"]


def test_shared_analyzer_is_one_instance() -> None:
    assert get_analyzer() is get_analyzer()
    assert get_analyzer().stem
