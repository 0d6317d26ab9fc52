"""Text analysis for BM25: tokens, Indonesian and English stop-words, Sastrawi stemming.

Sastrawi only strips affixes when the remaining root is in its Indonesian dictionary, so English
words mostly pass through unchanged; stems are cached because Sastrawi is slow (~0.1 ms a word).
"""

from __future__ import annotations

import threading
from functools import lru_cache

from rag.text import INDONESIAN_QUESTION_WORDS, TOKEN

_INDONESIAN_EXTRA = INDONESIAN_QUESTION_WORDS | frozenset(
    "di yang dan atau ini itu dari ke pada untuk dengan dalam oleh sebagai adalah ialah tersebut "
    "juga akan telah sudah saja".split()
)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Indonesian (Sastrawi's list plus question words) and English stop-words."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    indonesian = set(StopWordRemoverFactory().get_stop_words())
    # NLTK's English list (bm25s ships it); it leaves out the modals "could" and "would", and
    # holds contraction pieces that are words of their own in news ("won", "ma": Mahkamah Agung).
    english = {*STOPWORDS_EN_PLUS, "could", "would"} - {"won", "ma", "don", "ain"}
    return frozenset(indonesian | _INDONESIAN_EXTRA | english)


class Analyzer:
    """Lower-cases, splits into word tokens, drops stop-words and stems with Sastrawi (cached)."""

    def __init__(self, stem: bool = True) -> None:
        self.stem = stem
        self._stops = stop_words()
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stemmer = None
        if stem:
            from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

            self._stemmer = StemmerFactory().create_stemmer()

    def _stem(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        # Sastrawi mangles words with digits or hyphens; keep those whole.
        if self._stemmer is None or not word.isalpha() or len(word) <= 3:
            result = word
        else:
            with self._lock:
                result = self._stemmer.stem(word) or word
        self._cache[word] = result
        return result

    def tokens(self, text: str) -> list[str]:
        """The BM25 terms of ``text``."""
        out = []
        for match in TOKEN.finditer(text.lower()):
            word = match.group()
            if word in self._stops:
                continue
            out.append(self._stem(word))
        return out


_shared: Analyzer | None = None
_shared_lock = threading.Lock()


def get_analyzer() -> Analyzer:
    """The process-wide analyzer (its stem cache is shared by ingest and search)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Analyzer()
        return _shared
