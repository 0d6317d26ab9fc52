"""Text analysis for BM25: tokens, Indonesian and English stop-words, Sastrawi stemming.

Sastrawi only strips affixes when the remaining root is in its Indonesian dictionary, so English
words mostly pass through unchanged; stems are cached because Sastrawi is slow (~0.1 ms a word).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)

# Question words are kept out of the stop-list on purpose only where they carry meaning in a
# passage (none here): a passage rarely contains "berapa", so they add noise, not signal.
_ENGLISH_STOP = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
_INDONESIAN_EXTRA = frozenset(
    [
        "apa",
        "apakah",
        "siapa",
        "siapakah",
        "berapa",
        "berapakah",
        "kapan",
        "kapankah",
        "dimana",
        "di",
        "mana",
        "manakah",
        "bagaimana",
        "mengapa",
        "kenapa",
        "yang",
        "dan",
        "atau",
        "ini",
        "itu",
        "dari",
        "ke",
        "pada",
        "untuk",
        "dengan",
        "dalam",
        "oleh",
        "sebagai",
        "adalah",
        "ialah",
        "tersebut",
        "juga",
        "akan",
        "telah",
        "sudah",
        "saja",
    ]
)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Indonesian (Sastrawi's list plus question words) and English stop-words."""
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    indonesian = set(StopWordRemoverFactory().get_stop_words())
    return frozenset(indonesian | _INDONESIAN_EXTRA | _ENGLISH_STOP)


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
        for match in _TOKEN.finditer(text.lower()):
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
