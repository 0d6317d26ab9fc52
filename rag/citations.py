"""Citations are checked, not trusted.

- a [n] that points to no passage is dropped;
- a sentence stays only if a passage supports what it asserts (``rag.support``): its
  numbers, names and content words; a cited passage that does not is dropped, a sentence that
  cites none that does gets the passage that supports it best, a sentence that no passage
  supports, or that asserts nothing, is dropped;
- each citation quotes the sentence of its passage that best supports the claim, with its
  character offsets in the cleaned document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.analyzer import get_analyzer
from rag.support import Claim, answers_kind, claim_of, shared, supports
from rag.text import (
    ANSWER_SENTENCE_BREAK,
    CITATION,
    CITATION_GROUP,
    CITATIONS_AFTER_STOP,
    WORD_OR_NUMBER,
)
from rag.types import Citation, Hit


@dataclass
class CheckedAnswer:
    """The answer text with verified [n] markers and the citations they stand for."""

    text: str
    citations: list[Citation]
    supported: bool


def _tokens(text: str) -> set[str]:
    return set(get_analyzer().tokens(text))


def _best_quote(claim: Claim, claim_tokens: set[str], hit: Hit, same: bool) -> tuple[int, int]:
    """Offsets, in the hit's document, of the hit's sentence that supports ``claim`` (the one
    holding most of it, when several do); else of the sentence sharing most words with it."""
    from rag.evidence import rank_sentences

    ranked = rank_sentences(claim_tokens, [hit.text])
    backing = [s for s in ranked if supports(claim, hit.text[s.start : s.end], same)]
    if backing:
        best = max(backing, key=lambda s: shared(claim, hit.text[s.start : s.end]))
    elif ranked:
        best = ranked[0]
    else:
        return hit.start, hit.end
    return hit.start + best.start, hit.start + best.end


def split_sentences(text: str) -> list[str]:
    """Answer sentences, each keeping the [n] markers written at its end."""
    text = CITATION_GROUP.sub(
        lambda m: "".join(f"[{n}]" for n in re.split(r"\s*[,;]\s*", m[1])), text
    )
    text = CITATIONS_AFTER_STOP.sub(lambda m: f"{m[2]}{m[1]}", text)
    return [s.strip() for s in ANSWER_SENTENCE_BREAK.split(text) if s.strip()]


def _support_of(claim: Claim, cited: list[int], evidence: list[str], same: list[bool]) -> list[int]:
    """The passages (1-based) that support ``claim``: those of ``cited`` that do, alone or
    together; else the one passage of all that supports it best; else none."""
    keep = [n for n in cited if supports(claim, evidence[n - 1], same[n - 1])]
    if not keep and len(cited) > 1:
        joined = " ".join(evidence[n - 1] for n in cited)
        if supports(claim, joined, all(same[n - 1] for n in cited)):
            keep = [n for n in cited if shared(claim, evidence[n - 1])]
    if keep:
        return keep
    backing = [
        n for n in range(1, len(evidence) + 1) if supports(claim, evidence[n - 1], same[n - 1])
    ]
    return [max(backing, key=lambda n: (shared(claim, evidence[n - 1]), -n))] if backing else []


def check_citations(answer: str, hits: Sequence[Hit], question: str = "") -> CheckedAnswer:
    """Verify ``answer`` sentence by sentence against ``hits`` ([1] is hits[0]): a sentence
    stays only if a passage supports what it adds to ``question`` (``rag.support``), and
    cites exactly the passages that do."""
    from rag.instructions import hit_view
    from rag.prompt import detect_language

    # what the model was given: a sentence instructing the assistant is no evidence
    evidence = [hit_view(h) for h in hits]
    # the prompt asks for the answer in the question's language
    language = detect_language(question or CITATION.sub(" ", answer))
    same = [detect_language(e) == language for e in evidence]
    out_sentences: list[str] = []
    citations: list[Citation] = []
    seen: set[tuple[int, int, int]] = set()
    for sentence in split_sentences(answer):
        cited = [
            n
            for n in dict.fromkeys(int(n) for n in CITATION.findall(sentence))
            if 1 <= n <= len(hits)
        ]
        claim_text = CITATION.sub("", sentence).strip()
        claim = claim_of(claim_text, question)
        keep = [] if claim.empty else _support_of(claim, cited, evidence, same)
        if not keep:
            continue
        stop = claim_text[-1] if claim_text and claim_text[-1] in ".!?" else ""
        body = claim_text[:-1].rstrip() if stop else claim_text
        marks = "".join(f" [{n}]" for n in keep)
        out_sentences.append(f"{body}{marks}{stop}" if body else marks.strip())
        claim_tokens = _tokens(claim_text)
        for n in keep:
            hit = hits[n - 1]
            start, end = _best_quote(claim, claim_tokens, hit, same[n - 1])
            if (n, start, end) in seen:
                continue
            seen.add((n, start, end))
            citations.append(
                Citation(
                    n=n,
                    doc_id=hit.doc_id,
                    title=hit.title,
                    chunk_id=hit.chunk_id,
                    start=start,
                    end=end,
                    quote=hit.text[start - hit.start : end - hit.start],
                    url=hit.url,
                    date=hit.date,
                    page=hit.page,
                )
            )
    return CheckedAnswer(" ".join(out_sentences).strip(), citations, bool(out_sentences))


def judge(
    raw: str, hits: Sequence[Hit], question: str, asked: str | None = None
) -> tuple[CheckedAnswer, bool]:
    """The checked answer of the model's reply ``raw`` (names snapped to the passages' spelling)
    and whether it is a refusal: the model's NOT_FOUND, no sentence supported, or supported
    sentences without the amount or time that ``asked`` (the user's own words; default
    ``question``, which may hold the previous question of a follow-up) asks for."""
    from rag.prompt import NOT_FOUND

    checked = check_citations(snap_names(raw, hits), hits, question)
    unanswered = not answers_kind(asked or question, CITATION.sub(" ", checked.text))
    return checked, NOT_FOUND in raw or not checked.supported or unanswered


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


def restates_question(answer: str, question: str, *, partial: bool = False) -> bool:
    """True while ``answer`` only echoes ``question``: at most one word not in the question,
    and no new number or name. Small models sometimes copy the question instead of answering
    it; such a reply is asked again. ``partial``: ``answer`` is still being written, so its
    last word may be cut (a token like "Dar" of "Dari") and is not judged yet."""
    if partial:
        answer = re.sub(r"[^\W_]+$", "", answer)
    asked = {w.lower() for w in WORD_OR_NUMBER.findall(question)}
    words = WORD_OR_NUMBER.findall(CITATION.sub(" ", answer))
    new = [(i, w) for i, w in enumerate(words) if w.lower() not in asked]
    if len(new) > 1:
        return False
    # A capital on the first of several words may be the sentence's, not a name's.
    return not any(
        any(c.isdigit() for c in w) or (w[:1].isupper() and (i > 0 or len(words) == 1))
        for i, w in new
    )
