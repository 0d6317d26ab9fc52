"""Citations are checked, not trusted.

- a [n] that points to no passage is dropped;
- a cited passage that shares no content word with the sentence citing it is dropped;
- a sentence left without a citation gets the passage that best supports it, if any does;
- each citation quotes the sentence of its passage that best supports the claim, with its
  character offsets in the cleaned document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.analyzer import get_analyzer, sentence_overlaps
from rag.retrieve import Hit

_GROUP = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MARK = re.compile(r"\s*\[(\d+)\]")
_SALIENT = re.compile(r"\b(?:\d[\d.,/-]*\d|\d|[A-Z][\w-]*[A-Za-z])\b")


@dataclass
class Citation:
    """A checked citation: passage [n] and the exact span of its document that supports the
    sentence citing it (``start``/``end`` are offsets in the document's cleaned text)."""

    n: int
    doc_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    quote: str
    url: str | None = None
    date: str | None = None


@dataclass
class CheckedAnswer:
    """The answer text with verified [n] markers and the citations they stand for."""

    text: str
    citations: list[Citation]
    supported: bool


def _tokens(text: str) -> set[str]:
    return set(get_analyzer().tokens(text))


def _best_quote(claim: set[str], hit: Hit) -> tuple[int, int]:
    """Offsets, in the hit's document, of the hit's sentence sharing most words with ``claim``."""
    best, best_score = (0, len(hit.text)), -1
    for score, s, e in sentence_overlaps(claim, hit.text):
        if score > best_score:
            best, best_score = (s, e), score
    return hit.start + best[0], hit.start + best[1]


def split_sentences(text: str) -> list[str]:
    """Answer sentences, each keeping the [n] markers written at its end."""
    text = _GROUP.sub(lambda m: "".join(f"[{n}]" for n in re.split(r"\s*[,;]\s*", m[1])), text)
    text = _MARKERS_AFTER_STOP.sub(lambda m: f"{m[2]}{m[1]}", text)
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def check_citations(answer: str, hits: Sequence[Hit]) -> CheckedAnswer:
    """Verify the [n] markers of ``answer`` against ``hits`` ([1] is hits[0])."""
    passage_tokens = [_tokens(h.text + " " + h.title) for h in hits]
    out_sentences: list[str] = []
    citations: list[Citation] = []
    seen: set[tuple[int, int, int]] = set()
    supported = False
    for sentence in split_sentences(answer):
        cited = [int(n) for n in _MARK.findall(sentence)]
        claim = _MARK.sub("", sentence).strip()
        claim_tokens = _tokens(claim)
        keep = []
        for n in dict.fromkeys(cited):
            if 1 <= n <= len(hits) and claim_tokens & passage_tokens[n - 1]:
                keep.append(n)
        if not keep and claim_tokens:
            overlaps = [len(claim_tokens & p) for p in passage_tokens]
            if overlaps and max(overlaps) > 0:
                keep = [overlaps.index(max(overlaps)) + 1]
        supported = supported or bool(keep)
        stop = claim[-1] if claim and claim[-1] in ".!?" else ""
        body = claim[:-1].rstrip() if stop else claim
        marks = "".join(f" [{n}]" for n in keep)
        out_sentences.append(f"{body}{marks}{stop}" if body else marks.strip())
        for n in keep:
            hit = hits[n - 1]
            start, end = _best_quote(claim_tokens, hit)
            if (n, start, end) in seen:
                continue
            seen.add((n, start, end))
            quote = hit.text[start - hit.start : end - hit.start]
            citations.append(
                Citation(
                    n=n,
                    doc_id=hit.doc_id,
                    title=hit.title,
                    chunk_id=hit.chunk_id,
                    start=start,
                    end=end,
                    quote=quote,
                    url=hit.url,
                    date=hit.date,
                )
            )
    return CheckedAnswer(" ".join(out_sentences).strip(), citations, supported)


def snap_names(answer: str, hits: Sequence[Hit]) -> str:
    """Replace a name or number the model misspelt ("Mithohizzaman") by the passage's spelling
    ("Misthohizzaman") when exactly one close passage word exists; small models copy badly."""
    import difflib

    words = {w for h in hits for w in re.findall(r"[\w-]+", h.title + " " + h.text)}
    lower = {w.lower(): w for w in words}

    def fix(match: re.Match[str]) -> str:
        word = match.group()
        if word.lower() in lower or len(word) < 6 or word.isdigit():
            return word
        close = difflib.get_close_matches(word.lower(), list(lower), n=2, cutoff=0.85)
        return lower[close[0]] if len(close) == 1 else word

    return re.sub(r"\b[A-Z][\w-]+", fix, answer)


def grounded(answer: str, hits: Sequence[Hit], question: str) -> bool:
    """False when the answer brings in names or numbers that are not in the question and not
    one of which appears in the passages: the model answered from its own memory."""
    asked = question.lower()
    names = {
        m.lower()
        for m in _SALIENT.findall(_MARK.sub("", answer))
        if m.lower() not in asked and m.lower() not in {"i", "the", "a", "maaf", "sorry"}
    }
    if not names:
        return True
    source = " ".join(h.title + " " + h.text for h in hits).lower()
    return any(name in source for name in names)


_WORDS = re.compile(r"[^\W_]+(?:[.,/-]\d+)*", re.UNICODE)


def restates_question(answer: str, question: str, *, partial: bool = False) -> bool:
    """True while ``answer`` only echoes ``question``: at most one word not in the question,
    and no new number or name. Small models sometimes copy the question instead of answering
    it; such a reply is asked again. ``partial``: ``answer`` is still being written, so its
    last word may be cut (a token like "Dar" of "Dari") and is not judged yet."""
    if partial:
        answer = re.sub(r"[^\W_]+$", "", answer)
    asked = {w.lower() for w in _WORDS.findall(question)}
    words = _WORDS.findall(_MARK.sub(" ", answer))
    new = [(i, w) for i, w in enumerate(words) if w.lower() not in asked]
    if len(new) > 1:
        return False
    # A capital on the first of several words may be the sentence's, not a name's.
    return not any(
        any(c.isdigit() for c in w) or (w[:1].isupper() and (i > 0 or len(words) == 1))
        for i, w in new
    )
