"""What the user may be shown of the model's words.

While the answer streams, a word is shown only when the question or the passages as the model
read them (instruction sentences left out) hold it, or it is a common word: from the first
word that neither holds (a payload a hostile article asks for, a number no passage gives) the
stream waits, and the checked answer decides. A link, a markdown link or image, an e-mail
address or a phone number waits in every case, and stays in the answer only when a cited
passage holds it as data and the question asks for one. A hostile article can make the model
write a word; it cannot make the screen show one the check has not let through.

Nor does the stream open before the reply adds something to the question: a word the question
does not hold (beyond common ones) and, for "how many" and "when" questions, a number or a time.
A reply that only restates the question, or answers an amount without one, is one the check
refuses; held back, it is never shown and then taken back."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

from rag.instructions import hit_view, model_view
from rag.text import ASKS_CONTACT, CITATION, CONTACT_LIKE, NAME, WORD_OR_NUMBER, contacts
from rag.types import Citation, Hit

SMALL_NUMBERS = 12  # a count up to this may be written out in the passage ("tiga")

# The end of the text being written that may still become a contact: a word that may become a
# link or an address, or digits that may become a phone number.
_OPEN_TAIL = re.compile(
    r"(?:(?<!\S)(?:h|ht|htt|https?|w|ww|www)"  # a link's start
    r"|\[[^\]\n]*\]?"  # a markdown link's text
    r"|(?<![\w.,/])[+(]?\d[\d ()-]*"  # digits that may go on into a phone number
    r")$"
)


def stream_limit(raw: str) -> int:
    """How much of the model's text so far may be shown now: all of it up to the first
    contact, or what may still become one."""
    cut = len(raw)
    like = CONTACT_LIKE.search(raw)
    if like:
        cut = like.start()
    found = contacts(raw[:cut])
    if found:
        cut = found[0][0]
    tail = _OPEN_TAIL.search(raw[:cut])
    return tail.start() if tail else cut


class StreamGuard:
    """How much of the model's text the user may see while it streams, for one question and
    the passages the model was given."""

    def __init__(self, question: str, hits: Sequence[Hit]) -> None:
        from rag.analyzer import get_analyzer, stop_words
        from rag.prompt import detect_language
        from rag.support import META_WORDS, numbers

        evidence = " ".join(hit_view(h) for h in hits)
        source = f"{question} {evidence}"
        self._analyzer = get_analyzer()
        self._common = stop_words() | set(META_WORDS.split())
        self._words = {w.lower() for w in WORD_OR_NUMBER.findall(source)}
        self._stems = set(self._analyzer.tokens(source))
        self._numbers = numbers(source)
        self._numbers_of = numbers
        self._sorted = sorted(self._words | self._common)
        self._passages = len(hits)
        # Words cannot be compared across languages: only names and numbers are checked.
        self._across = bool(hits) and detect_language(question) != detect_language(evidence)
        self._question = question
        self._asked = {w.lower() for w in WORD_OR_NUMBER.findall(question)}
        self._checked = 0  # the text before this offset is known to be shown
        self._opened = False  # the reply has added something to the question

    def restart(self) -> None:
        """Forget the text checked so far: the model starts a new reply."""
        self._checked = 0
        self._opened = False

    def visible(self, raw: str, hold_copies: bool = True) -> int:
        """How much of ``raw`` the user may see now: nothing while it may still become the
        NOT_FOUND sentinel or (``hold_copies``) only copies the question (it is asked again
        then), else :meth:`limit`."""
        from rag.citations import restates_question
        from rag.prompt import NOT_FOUND

        head = raw.lstrip()
        if NOT_FOUND in raw or (head and NOT_FOUND.startswith(head)):
            return 0
        if hold_copies and restates_question(raw, self._question, partial=True):
            return 0
        return self.limit(raw)

    def limit(self, raw: str) -> int:
        """How much of ``raw`` (the model's text so far, a reply that only grows until
        :meth:`restart`) may be shown now by its words."""
        cut = self._known_prefix(raw)
        if not self._opened:
            if not self._adds_to_question(raw[:cut]):
                return 0
            self._opened = True
        return cut

    def _adds_to_question(self, text: str) -> bool:
        from rag.support import NUMBER_WORDS, answers_kind

        text = CITATION.sub(" ", re.sub(r"[\w.,/-]+$", "", text))  # the last word may go on
        return any(
            w.lower() not in self._asked
            and (w.lower() not in self._common or w.lower() in NUMBER_WORDS)  # "tiga" answers
            for w in WORD_OR_NUMBER.findall(text)
        ) and answers_kind(self._question, text)

    def _known_prefix(self, raw: str) -> int:
        cut = stream_limit(raw)
        for match in WORD_OR_NUMBER.finditer(raw, self._checked, cut):
            word = match.group()
            if match.end() >= len(raw.rstrip(".,/-:")):  # it may go on ("9." -> "9.660")
                return match.start() if not self._may_become(word.lower()) else cut
            if not self._known(word, raw, match.start()):
                return match.start()
            self._checked = match.end()
        return cut

    def _known(self, word: str, raw: str, at: int) -> bool:
        lower = word.lower()
        if word[0].isdigit():
            if raw[at - 1 : at] == "[" and word.isdigit():  # a citation marker [n]
                return int(word) <= self._passages
            found = self._numbers_of(word)
            return found <= self._numbers or all(int(n) <= SMALL_NUMBERS for n in found)
        if lower in self._words or lower in self._common:
            return True
        if self._across and not NAME.fullmatch(word):
            return True
        return bool(stems := self._analyzer.tokens(lower)) and set(stems) <= self._stems

    def _may_become(self, prefix: str) -> bool:
        if prefix[0].isdigit():  # a number the passages may go on to give
            digits = re.sub(r"\D", "", prefix).lstrip("0")
            return not digits or any(n.startswith(digits) for n in self._numbers)
        i = bisect_left(self._sorted, prefix)
        return i < len(self._sorted) and self._sorted[i].startswith(prefix)


def allowed_contacts(
    text: str, citations: Sequence[Citation], hits: Sequence[Hit], question: str
) -> str:
    """``text`` without the contacts the user may not be shown: each stays only when the
    question asks for one and a cited passage holds it outside any instruction sentence."""
    spans = contacts(text)
    if not spans:
        return text
    asked = bool(ASKS_CONTACT.search(question))
    cited = {c.n for c in citations}
    data = " ".join(model_view(h.text, h.screened) for n, h in enumerate(hits, 1) if n in cited)
    out, at = [], 0
    for start, end in spans:
        keep = asked and text[start:end] in data
        out.append(text[at:start] if keep else text[at:start].rstrip())
        if keep:
            out.append(text[start:end])
        at = end
    out.append(text[at:])
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", "".join(out))).strip()
