"""ask(): question in, grounded answer with checked citations out."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.citations import CheckedAnswer
from rag.errors import InputError
from rag.settings import Settings, get_settings
from rag.types import Answer, Citation, Hit, Sources

if TYPE_CHECKING:
    from rag.guard import StreamGuard
    from rag.llm import LLM
    from rag.prompt import Prompt

__all__ = ["Answer", "Citation", "Sources", "ask", "ask_stream"]


def select_passages(
    query: str,
    settings: Settings,
    count_tokens: Callable[[str], int],
    skip: Collection[str] = (),
) -> list[Hit]:
    """The passages ``ask_stream`` gives the model for ``query``: the hybrid search of
    ``settings``, cut to its passage token budget (``count_tokens`` is the model's); with
    ``skip`` (chunk ids), the next-ranked passages after those."""
    from rag.prompt import fit_passages
    from rag.retrieve import search

    found = search(query, settings, k=settings.k + len(skip))
    fresh = [h for h in found if h.chunk_id not in skip][: settings.k]
    return fit_passages(fresh, settings.context_tokens, count_tokens)


def evidence_signals(question: str, hits: Sequence[Hit], settings: Settings) -> dict[str, float]:
    """What the passages given hold of ``question``, before any model reads them: ``dense``,
    the best passage's cosine similarity; ``coverage``, the share of the question's terms
    (IDF-weighted, frame words such as "nama" out) that the best single sentence (with its
    passage's title) holds. Words cannot be compared across languages, so a question in
    another language than its passages gets coverage 1 (not judged)."""
    from rag.evidence import asked_terms, best_sentence
    from rag.prompt import detect_language
    from rag.retrieve import get_retriever

    dense = max((h.dense_score or 0.0 for h in hits), default=0.0)
    terms = asked_terms(question)
    passages = " ".join(h.text for h in hits)
    if not terms or not hits or detect_language(question) != detect_language(passages):
        return {"dense": dense, "coverage": 1.0 if hits else 0.0}
    weights = get_retriever(settings).term_weights(terms)
    best = best_sentence(terms, [h.text for h in hits], weights, [h.title for h in hits])
    return {"dense": dense, "coverage": best.coverage if best else 0.0}


def passes_evidence(signals: dict[str, float], settings: Settings) -> bool:
    """Whether :func:`evidence_signals` reach ``settings.refuse_below`` (dense) and
    ``settings.min_coverage``."""
    return (
        signals["dense"] >= settings.refuse_below and signals["coverage"] >= settings.min_coverage
    )


def relevant_enough(question: str, hits: Sequence[Hit], settings: Settings) -> bool:
    """Whether the passages may hold the answer: the best passage's dense similarity reaches
    ``settings.refuse_below`` and the best sentence covers ``settings.min_coverage`` of the
    question. Otherwise ``ask_stream`` refuses without asking the model."""
    return bool(hits) and passes_evidence(evidence_signals(question, hits, settings), settings)


def cites_closest(checked: CheckedAnswer, closest: Sequence[tuple[int, str]]) -> bool:
    """Whether ``checked`` cites the passage of the sentence closest to the question (the one
    the prompt repeats), or there is no such sentence."""
    return not closest or any(c.n == closest[0][0] for c in checked.citations)


@dataclass
class _Reply:
    """The model's side of one answer: it streams attempts and counts their tokens."""

    llm: LLM
    settings: Settings
    answer: Answer
    started: float
    guard: StreamGuard  # what of the reply may be shown while it streams
    tokens: int = 0
    shown_any: bool = False  # some text of this answer reached the user
    # Asked once, at the model's first token, before any is shown: whether to refuse now.
    veto: Callable[[], bool] | None = None
    vetoed: bool = False

    def attempt(
        self, prompt: Prompt, mode: str | None, hold_copies: bool, quiet: bool = False
    ) -> Generator[str, None, tuple[str, int]]:
        """Stream one model answer to ``prompt`` (``quiet``: show nothing of it); returns
        (raw text, characters shown)."""
        from rag.generate import answer_stream

        raw, shown = "", 0
        self.guard.restart()
        stream = answer_stream(self.llm, self.settings, prompt, mode=mode)
        try:
            for piece in stream:
                if self.veto is not None:
                    veto, self.veto = self.veto, None
                    if veto():
                        self.vetoed = True
                        return "", 0
                if not raw and not self.shown_any:  # until a word is shown: the model's first
                    self.answer.first_token_s = time.perf_counter() - self.started
                    if not self.answer.model_first_s:
                        self.answer.model_first_s = self.answer.first_token_s
                self.tokens += 1
                raw += piece
                if quiet:
                    continue
                # The sentinel, a copy of the question, a reply that adds nothing to it yet,
                # a word no passage holds, a link or a number to call: wait for the check.
                limit = self.guard.visible(raw, hold_copies)
                if limit > shown:
                    if not self.shown_any:  # the first word the user sees
                        self.answer.first_token_s = time.perf_counter() - self.started
                        self.shown_any = True
                    yield raw[shown:limit]
                    shown = limit
        finally:
            stream.close()
        return raw, shown

    def checked(
        self, prompt: Prompt, hits: list[Hit], closest: Sequence[tuple[int, str]]
    ) -> Generator[str, None, tuple[str, CheckedAnswer, bool]]:
        """Stream the answer, asked again once if it only copies the question and read again
        in full once if stored states gave a doubtful one; returns (raw text, checked answer,
        whether it is a refusal)."""
        from rag.citations import judge, restates_question
        from rag.generate import uses_states

        query = self.answer.search_query
        raw, shown = yield from self.attempt(prompt, None, True)
        if self.vetoed:
            return raw, CheckedAnswer("", [], False), True
        if shown == 0 and restates_question(raw, self.answer.question):
            raw, shown = yield from self.attempt(prompt.with_retry_hint(), None, False)
        checked, is_refusal = judge(raw, hits, query, self.answer.question)
        states = uses_states(self.llm, self.settings, hits)
        if states and (is_refusal or not cites_closest(checked, closest)):
            # A stored passage state never saw the passages before it, so the model may take a
            # fact from the wrong one: an answer that would be refused, or that does not cite
            # the passage holding the sentence closest to the question, is read again in full
            # once. Text already shown is replaced by the final answer, not added to.
            raw, _ = yield from self.attempt(prompt, "full", False, quiet=shown > 0)
            checked, is_refusal = judge(raw, hits, query, self.answer.question)
        return raw, checked, is_refusal


def _check_words(question: str, max_chars: int) -> None:
    """A question needs words, words the articles and the model can read, and an end."""
    import unicodedata

    from rag.text import LETTERS

    if not question:
        raise InputError("the question is empty; type a question about the articles")
    if len(question) > max_chars:
        raise InputError(
            f"the question is {len(question)} characters long; keep it under {max_chars} "
            "(RAG_MAX_QUESTION_CHARS)"
        )
    letters = "".join(LETTERS.findall(question))
    if not letters and not any(c.isdigit() for c in question):
        raise InputError("the question has no words; type a question about the articles")
    latin = sum(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in letters)
    if letters and latin < len(letters) / 2:
        raise InputError(
            "ask in Indonesian or English: the articles and the model read those languages"
        )


def _check_length(llm: LLM, question: str, settings: Settings) -> None:
    q_tokens = llm.count_tokens(question)
    if q_tokens > settings.n_ctx // 4:
        raise InputError(
            f"the question is {q_tokens} tokens long; keep it under {settings.n_ctx // 4} "
            "tokens (about a paragraph)"
        )


@dataclass
class Plan:
    """What one question is answered from: the search query (a follow-up rewritten), the
    previous question it follows, the passages, their evidence signals, and the prompt and
    closest sentence built from them (``None`` when the evidence gate refuses)."""

    question: str
    language: str
    search_query: str
    previous: str | None
    hits: list[Hit]
    signals: dict[str, float]
    prompt: Prompt | None = None
    closest: Sequence[tuple[int, str]] = ()


def prepare(
    question: str,
    history: Sequence[dict[str, str]] | None,
    settings: Settings,
    llm: LLM,
    skip: Collection[str] = (),
) -> Plan:
    """Retrieve for ``question`` (after ``history``), apply the evidence gate and build the
    prompt: every step of :func:`ask_stream` before the model reads anything. ``skip``: chunk
    ids already read (the next-ranked passages are taken instead)."""
    from rag.analyzer import get_analyzer
    from rag.generate import screen_hits
    from rag.prompt import (
        build_prompt,
        detect_language,
        key_sentences,
        last_user_question,
        rewrite_follow_up,
    )
    from rag.retrieve import get_retriever

    language = detect_language(question)
    search_query = rewrite_follow_up(question, history)
    previous = last_user_question(history) if search_query != question else None
    hits = screen_hits(
        llm, settings, select_passages(search_query, settings, llm.count_tokens, skip)
    )
    signals = evidence_signals(search_query, hits, settings)
    plan = Plan(question, language, search_query, previous, hits, signals)
    if not hits or not passes_evidence(signals, settings):
        return plan
    asked = f"{previous or ''} {question}"  # what build_prompt matches sentences against
    weights = get_retriever(settings).term_weights(get_analyzer().tokens(asked))
    plan.prompt = build_prompt(question, hits, language, previous, settings.key_sentences, weights)
    plan.closest = key_sentences(asked, hits, 1, weights)
    return plan


def _probe_veto(llm: LLM, settings: Settings, plan: Plan, answer: Answer) -> Callable[[], bool]:
    """The probe's verdict on the model's reading of ``plan``'s prompt, asked at its first
    token: refuse when P(the passages lack the answer) exceeds the probe's threshold."""
    from rag.gate import gate_for

    gate = gate_for(llm, settings)

    def veto() -> bool:
        answer.lacks_answer_p = gate.lacks_answer(llm, plan.signals)
        return gate.probe is not None and (answer.lacks_answer_p or 0.0) > gate.probe.threshold

    return veto


def ask_stream(
    question: str, history: Sequence[dict[str, str]] | None = None, **overrides: Any
) -> Iterator[Sources | str | Answer]:
    """Answer ``question`` as a stream: one :class:`Sources` event as soon as the passages are
    retrieved, then text pieces, then the final :class:`Answer`.

    ``history`` holds earlier turns as ``{"role", "content"}`` dicts; a follow-up question is
    rewritten against it before retrieval. ``overrides`` are settings (``k=5``, ``model=...``).
    """
    from rag.guard import StreamGuard, allowed_contacts
    from rag.llm import get_llm
    from rag.prompt import refusal
    from rag.retrieve import get_retriever

    settings = get_settings(**overrides)
    question = (question or "").strip()
    _check_words(question, settings.max_question_chars)
    started = time.perf_counter()
    get_retriever(settings)  # a missing index fails before the model loads
    llm = get_llm(settings)
    _check_length(llm, question, settings)
    plan = prepare(question, history, settings, llm)
    answer = Answer(
        question=question,
        text="",
        search_query=plan.search_query,
        retrieve_s=time.perf_counter() - started,
    )
    if plan.prompt is None:
        yield Sources([])
        answer.text, answer.refused, answer.refused_by = refusal(plan.language), True, "evidence"
        answer.total_s = time.perf_counter() - started
        yield answer.text
        yield answer
        return
    answer.sources = plan.hits
    yield Sources(list(plan.hits))
    veto, guard = _probe_veto(llm, settings, plan, answer), StreamGuard(question, plan.hits)
    reply = _Reply(llm, settings, answer, started, guard, veto=veto)
    raw, checked, is_refusal = yield from reply.checked(plan.prompt, plan.hits, plan.closest)
    answer.tokens, answer.model_text = reply.tokens, raw
    if is_refusal:
        answer.text, answer.refused = refusal(plan.language), True
        answer.refused_by = "probe" if reply.vetoed else "model"
        if reply.vetoed:  # nothing was shown: the refusal is the streamed answer
            yield answer.text
    else:
        answer.citations = checked.citations
        answer.text = allowed_contacts(checked.text, checked.citations, plan.hits, question)
    answer.total_s = time.perf_counter() - started
    yield answer


def ask(question: str, history: Sequence[dict[str, str]] | None = None, **overrides: Any) -> Answer:
    """Answer ``question`` from the indexed articles, with checked citations.

    The index and the model load on first use and are reused by later calls (thread-safe).
    """
    final: Answer | None = None
    for event in ask_stream(question, history, **overrides):
        if isinstance(event, Answer):
            final = event
    assert final is not None
    return final
