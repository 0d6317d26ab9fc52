"""The one sentence scorer: how well each sentence of some passages matches a set of terms.

Used wherever a single sentence is the evidence: the retrieval rescue (the passage holding the
best-matching sentence), the prompt's closest sentence, the citation quote, the support check
and the refusal before the model. Terms are analyzer tokens (stemmed, stop-words out); each
shared term counts its weight (inverse document frequency from the index, or 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text import PASSAGE_SENTENCE_BREAK

# Words that frame a question rather than name what it asks about ("Siapa nama ...", "Di
# mana letak ...", "Tanggal berapa ..."): a passage holding the answer rarely repeats them.
_QUESTION_FRAME = (
    "nama namanya mana dimanakah manakah letak lokasi tanggal jenis judul sebutkan disebut "
    "name named located location date kind type title called"
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a passage, whitespace trimmed."""
    spans = []
    pos = 0
    for m in PASSAGE_SENTENCE_BREAK.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


@lru_cache(maxsize=1)
def _frame_terms() -> frozenset[str]:
    from rag.analyzer import get_analyzer

    return frozenset(get_analyzer().tokens(_QUESTION_FRAME))


def asked_terms(question: str) -> list[str]:
    """The analyzer terms of ``question`` that name what it asks about (frame words out)."""
    from rag.analyzer import get_analyzer

    frame = _frame_terms()
    return [t for t in get_analyzer().tokens(question) if t not in frame]


@dataclass(frozen=True)
class ScoredSentence:
    """One sentence of ``texts[passage]`` at ``start:end``: the weight of the terms it shares
    (``score``) and that weight's share of all the terms' weight (``coverage``, 0..1)."""

    passage: int
    start: int
    end: int
    score: float
    coverage: float


def rank_sentences(
    terms: Iterable[str],
    texts: Sequence[str],
    weights: Mapping[str, float] | None = None,
    titles: Sequence[str] | None = None,
) -> list[ScoredSentence]:
    """Every sentence of ``texts`` scored against ``terms``, best first; ties keep passage
    and sentence order. A term missing from ``weights`` weighs 1. A passage's title (from
    ``titles``) counts as part of each of its sentences."""
    from rag.analyzer import get_analyzer

    analyzer = get_analyzer()
    asked = set(terms)
    weight = {t: (weights or {}).get(t, 1.0) for t in asked}
    total = sum(weight.values()) or 1.0
    scored = []
    for p, text in enumerate(texts):
        titled = asked.intersection(analyzer.tokens(titles[p])) if titles else set()
        for start, end in sentence_spans(text):
            shared = titled | asked.intersection(analyzer.tokens(text[start:end]))
            score = sum(weight[t] for t in shared)
            scored.append(ScoredSentence(p, start, end, score, score / total))
    scored.sort(key=lambda s: -s.score)
    return scored


def best_sentence(
    terms: Iterable[str],
    texts: Sequence[str],
    weights: Mapping[str, float] | None = None,
    titles: Sequence[str] | None = None,
) -> ScoredSentence | None:
    """The best-matching sentence of ``texts`` (the first sentence when none shares a term)."""
    ranked = rank_sentences(terms, texts, weights, titles)
    return ranked[0] if ranked else None
