"""The prompt: a fixed system prefix (so llama.cpp reuses its cached state between questions),
then the numbered passages, then the question, kept in parts (:class:`Prompt`) that both the
full prefill and the stored-states path read. Also: the question's language, follow-up
rewriting and the refusal wording."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from rag.instructions import model_view
from rag.text import INDONESIAN_QUESTION_WORDS, LETTERS, defang
from rag.types import Hit, Message

NOT_FOUND = "NOT_FOUND"

SYSTEM_PROMPT = (
    "You answer questions about news articles. Use only the numbered passages in the user's "
    "message, never your own knowledge. Answer briefly: one to three sentences with the "
    "exact names, numbers and dates from the passages. After each fact write the number of the "
    f"passage it comes from, like [1]. If the passages do not contain the answer, reply only "
    f"{NOT_FOUND}."
)

PASSAGES_HEADER = "Passages:\n"
PASSAGE_SEPARATOR = "\n\n"

# Appended to the user message when the first reply only restated the question.
RETRY_HINT = (
    "\nYour previous reply only repeated the question. Reply with the answer itself (the "
    "name, number, date or place) and its passage number."
)

REFUSALS = {
    "id": "Maaf, artikel yang tersedia tidak memuat jawaban atas pertanyaan ini.",
    "en": "Sorry, the articles available do not contain the answer to this question.",
}
LANGUAGE_NAMES = {"id": "Indonesian", "en": "English"}

_INDONESIAN_MARKERS = INDONESIAN_QUESTION_WORDS | frozenset(
    "yang dan di ke dari pada untuk dengan dalam oleh adalah ini itu tersebut tahun negara saja "
    "sebutkan jelaskan tidak bukan juga sejak antara".split()
)
_ENGLISH_MARKERS = frozenset(
    "what who whom which when where why how many much is are was were do does did the of in on "
    "to for from with and by since between name list explain".split()
)
# Words that point back to an earlier turn: Indonesian -nya suffix forms, demonstratives, pronouns.
_ANAPHORA = re.compile(
    r"\b(\w+nya|itu|tersebut|ini|mereka|dia|ia|beliau|they|them|it|its|he|she|his|her|this|"
    r"that|these|those|there)\b",
    re.IGNORECASE,
)


def detect_language(text: str) -> str:
    """``"id"`` or ``"en"``, by counting function words (ties go to Indonesian)."""
    words = [w.lower() for w in LETTERS.findall(text)]
    ind = sum(w in _INDONESIAN_MARKERS for w in words)
    eng = sum(w in _ENGLISH_MARKERS for w in words)
    return "en" if eng > ind else "id"


def refusal(language: str) -> str:
    """The refusal sentence in ``language``."""
    return REFUSALS.get(language, REFUSALS["en"])


def last_user_question(history: Sequence[dict[str, str]] | None) -> str | None:
    """The most recent user message of ``history``."""
    for turn in reversed(history or []):
        if turn.get("role") == "user" and turn.get("content", "").strip():
            return turn["content"].strip()
    return None


def is_follow_up(question: str) -> bool:
    """A short question, or one that points back with a pronoun, needs the previous turn."""
    return len(LETTERS.findall(question)) <= 4 or bool(_ANAPHORA.search(question))


def rewrite_follow_up(question: str, history: Sequence[dict[str, str]] | None) -> str:
    """The standalone form of ``question`` for retrieval: the previous question joined to it
    when it is a follow-up ("siapa yang mewakilinya?"), else the question itself."""
    previous = last_user_question(history)
    if previous and is_follow_up(question):
        return f"{previous} {question}"
    return question


def passage_label(n: int) -> str:
    """The label of passage ``n`` as the model reads it: ``[n]``."""
    return f"[{n}]"


def passage_body(hit: Hit) -> str:
    """What follows a passage's label: ``" (title) text"`` (the same for every number, so a
    stored state of it serves wherever the passage ranks)."""
    return passage_parts(hit)[0]


def passage_parts(hit: Hit) -> tuple[str, list[tuple[int, int, str]]]:
    """:func:`passage_body` and where its title and its text stand in it: ``(start, end,
    source)`` with ``source`` the hit's raw title or text (the sentence screen reads the
    body sentence by sentence)."""
    title = model_view(hit.title, hit.screened)  # an instructing title is left out too
    text = model_view(hit.text, hit.screened)
    head = f" ({title})" if title else ""
    body = f"{head} {text}"
    parts = [(2, 2 + len(title), hit.title)] if title else []
    return body, [*parts, (len(head) + 1, len(body), hit.text)]


def format_passage(n: int, hit: Hit) -> str:
    """One numbered passage as the model reads it."""
    return passage_label(n) + passage_body(hit)


@dataclass(frozen=True)
class Prompt:
    """The prompt in its parts: the fixed system text, the passages, and the tail (closest
    sentence, previous question, question and answer language).

    The user message is :data:`PASSAGES_HEADER`, then each passage as its label, its body and
    :data:`PASSAGE_SEPARATOR`, then the tail. Full prefill renders it with :meth:`messages`;
    the stored-states path reads the same parts piece by piece."""

    system: str
    hits: tuple[Hit, ...]
    tail: str

    @property
    def labels(self) -> list[str]:
        """``[1]``, ``[2]``, ... one per passage."""
        return [passage_label(n) for n in range(1, len(self.hits) + 1)]

    @property
    def bodies(self) -> list[str]:
        """Each passage's body (:func:`passage_body`), in order."""
        return [passage_body(hit) for hit in self.hits]

    def passage_pieces(self) -> list[tuple[str, str]]:
        """Each passage as ``(label, body + separator)``: the user message between the header
        and the tail, in the pieces the stored-states path decodes separately."""
        return [
            (passage_label(n), passage_body(hit) + PASSAGE_SEPARATOR)
            for n, hit in enumerate(self.hits, 1)
        ]

    def user(self) -> str:
        """The user message these parts make."""
        if not self.hits:  # the header, an empty line, the tail
            return PASSAGES_HEADER + PASSAGE_SEPARATOR + self.tail
        pieces = "".join(label + piece for label, piece in self.passage_pieces())
        return PASSAGES_HEADER + pieces + self.tail

    def messages(self) -> list[Message]:
        """The chat messages: system, then user."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user()},
        ]

    def with_retry_hint(self) -> Prompt:
        """This prompt with :data:`RETRY_HINT` after the tail (the passages keep their place,
        so llama.cpp reuses their state and only reads the new tail)."""
        return replace(self, tail=self.tail + RETRY_HINT)


def fit_passages(
    hits: Sequence[Hit], budget_tokens: int, count_tokens: Callable[[str], int]
) -> list[Hit]:
    """The leading hits whose passages fit ``budget_tokens``; the first always fits."""
    kept: list[Hit] = []
    used = 0
    for n, hit in enumerate(hits, 1):
        cost = count_tokens(format_passage(n, hit)) + 2
        if kept and used + cost > budget_tokens:
            break
        kept.append(hit)
        used += cost
    return kept


def key_sentences(
    question: str,
    hits: Sequence[Hit],
    count: int = 1,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[int, str]]:
    """Up to ``count`` ``(n, sentence)`` pairs: the passage sentences matching ``question``
    best (``rag.evidence`` scoring, terms weighted by ``weights``), best first (the earlier
    passage and sentence win a tie); sentences sharing no term are left out."""
    from rag.analyzer import get_analyzer
    from rag.evidence import rank_sentences

    texts = [model_view(h.text, h.screened) for h in hits]  # what the model reads of each passage
    ranked = rank_sentences(get_analyzer().tokens(question), texts, weights)
    return [
        (s.passage + 1, " ".join(texts[s.passage][s.start : s.end].split()))
        for s in ranked[:count]
        if s.score > 0
    ]


def _closest_block(keys: list[tuple[int, str]]) -> str:
    if not keys:
        return ""
    if len(keys) == 1:
        return f"Most relevant sentence: [{keys[0][0]}] {keys[0][1]}\n\n"
    lines = "\n".join(f"[{n}] {sentence}" for n, sentence in keys)
    return f"Most relevant sentences:\n{lines}\n\n"


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    language: str,
    previous_question: str | None = None,
    key_count: int = 1,
    weights: Mapping[str, float] | None = None,
) -> Prompt:
    """The prompt: fixed system text, then the passages, the ``key_count`` passage sentences
    closest to the question, the question and the answer language.

    The closest sentences are read after all passages, so the model sees the likely answer
    right before the question (and, with stored passage states, reads it in context)."""
    closest = _closest_block(
        key_sentences(f"{previous_question or ''} {question}", hits, key_count, weights)
    )
    earlier = f"Previous question: {previous_question}\n" if previous_question else ""
    tail = f"{closest}{earlier}{question_line(question)}\n{answer_line(language)}"
    return Prompt(SYSTEM_PROMPT, tuple(hits), defang(tail))


def question_line(question: str) -> str:
    """The prompt tail's line that asks the question (before :func:`answer_line`)."""
    return f"Question: {question}"


def answer_line(language: str) -> str:
    """The prompt tail's last line: the answer language and the citation form."""
    return f"Answer in {LANGUAGE_NAMES.get(language, 'English')} and cite passages as [n]."
