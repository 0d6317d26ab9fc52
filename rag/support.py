"""Whether an answer sentence says only what its cited passage says.

A sentence's claim is what it adds to the question: the numbers, names and content words the
question does not already hold. A passage supports the claim when it holds every number and
every name (close spellings count: the model copies badly); a claim with neither needs at least
half its content words there. Across languages (an English answer from Indonesian articles)
words cannot be compared, so numbers must all be found and at least half of the names, and a
claim of words alone is not supported. A sentence that adds nothing ("This is stated in
passage.") asserts nothing and is dropped.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from rag.analyzer import get_analyzer
from rag.text import NAME, NUMBER, WORD

# Passages write small numbers out ("tiga danau"); the model often answers in digits.
NUMBER_WORDS = {
    w: str(n)
    for n, words in enumerate(
        [
            "nol zero",
            "satu one",
            "dua two",
            "tiga three",
            "empat four",
            "lima five",
            "enam six",
            "tujuh seven",
            "delapan eight",
            "sembilan nine",
            "sepuluh ten",
            "sebelas eleven",
            "twelve",
        ]
    )
    for w in words.split()
}
# Words that talk about the answer instead of saying something (both languages).
META_WORDS = (
    "passage passages stated states mentioned mention mentions article articles text source "
    "sources information according answer answers given provided based context question "
    "sentence sentences relevant found cited citation citations refer refers described says "
    "said document documents note shown "
    "disebutkan sebut artikel teks bagian paragraf sumber informasi menurut berdasarkan "
    "jawaban pertanyaan kalimat tercantum dijelaskan dinyatakan terdapat ditemukan ditulis "
    "tertulis bacaan kutipan relevan konteks dokumen nomor"
)
# Capitalised, but written out from numeric dates ("23/7" -> "23 Juli"): words, not names.
_CALENDAR = frozenset(
    "januari februari maret april mei juni juli agustus september oktober november desember "
    "january february march may june july august october december senin selasa rabu kamis "
    "jumat sabtu minggu monday tuesday wednesday thursday friday saturday sunday".split()
)
# A question that asks for an amount or a time is not answered by a reply without one.
_ASKS_AMOUNT = re.compile(
    r"\b(?:berapa(?:kah)?|how (?:many|much|long|old|far)|what (?:percentage|number))\b", re.I
)
_ASKS_TIME = re.compile(r"\b(?:kapan(?:kah)?|when|what year)\b", re.I)
_TIME_WORDS = _CALENDAR | frozenset(
    "tahun abad dekade bulan pekan hari pagi siang sore malam kemarin lalu sejak masa era "
    "year years century decade month week day morning noon evening night yesterday ago "
    "since".split()
)
NAME_SIMILARITY = 0.75  # difflib ratio at which a name of 5+ letters counts as a passage word
WORD_SHARE = 0.5  # share of a claim's content words its passage must hold


@lru_cache(maxsize=1)
def _meta_terms() -> frozenset[str]:
    return frozenset(get_analyzer().tokens(META_WORDS))


def numbers(text: str) -> set[str]:
    """The numbers of ``text`` as digit strings: "9.660", "9,660" and "9660" are one number,
    "08" and "8" too."""
    out = set()
    for match in NUMBER.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        out.add(digits.lstrip("0") or "0")
    return out


def _words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


@dataclass(frozen=True)
class Claim:
    """What one answer sentence adds to the question."""

    numbers: frozenset[str]
    names: frozenset[str]
    words: frozenset[str]

    @property
    def empty(self) -> bool:
        """The sentence asserts nothing the question does not already say."""
        return not (self.numbers or self.names or self.words)


def claim_of(sentence: str, question: str = "") -> Claim:
    """The numbers, names (capitalised words after the first) and content words (analyzer
    terms) of ``sentence`` that ``question`` does not hold."""
    analyzer = get_analyzer()
    not_names = _words(question) | _CALENDAR
    names = set()
    for i, match in enumerate(NAME.finditer(sentence)):
        if match.start() == 0 and i == 0:
            continue  # a sentence's first word is capitalised anyway
        for part in match.group().split("-"):
            word = part.lower()
            if len(word) > 1 and word not in not_names and not word.isdigit():
                names.add(word)
    terms = set(analyzer.tokens(sentence)) - set(analyzer.tokens(question)) - _meta_terms()
    terms = {t for t in terms if not any(c.isdigit() for c in t)}
    return Claim(
        numbers=frozenset(numbers(sentence) - numbers(question)),
        names=frozenset(names),
        words=frozenset(terms),
    )


def answers_kind(question: str, answer: str) -> bool:
    """Whether ``answer`` holds the kind of thing ``question`` asks for: a number (digits or
    a number word) when it asks how many or how much ("Berapa ...?"), a number or a time word
    when it asks when ("Kapan ...?"). Other questions are not judged here."""
    amount, time = _ASKS_AMOUNT.search(question), _ASKS_TIME.search(question)
    if not (amount or time):
        return True
    held_numbers, words, _ = _parsed(answer)  # written-out numbers count
    return bool(held_numbers) or bool(time and not amount and words & _TIME_WORDS)


def _name_found(name: str, words: frozenset[str]) -> bool:
    if name in words:
        return True
    if len(name) < 5:
        return False
    return bool(difflib.get_close_matches(name, list(words), n=1, cutoff=NAME_SIMILARITY))


@lru_cache(maxsize=256)
def _parsed(evidence: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The numbers (written-out ones too), lower-cased words and analyzer terms of
    ``evidence``: each passage and sentence is checked against many claims."""
    words = _words(evidence)
    spelled = {NUMBER_WORDS[w] for w in words & NUMBER_WORDS.keys()}
    terms = get_analyzer().tokens(evidence)
    return frozenset(numbers(evidence) | spelled), frozenset(words), frozenset(terms)


def supports(claim: Claim, evidence: str, same_language: bool = True) -> bool:
    """Whether ``evidence`` (passage text and title) holds what ``claim`` asserts."""
    if claim.empty:
        return False
    held_numbers, words, terms = _parsed(evidence)
    if claim.numbers - held_numbers:
        return False
    found = sum(_name_found(n, words) for n in claim.names)
    if same_language and found < len(claim.names):
        return False
    if not same_language:
        return found * 2 >= len(claim.names) and bool(claim.numbers or found)
    if claim.numbers or claim.names:
        return True
    return len(claim.words & terms) >= WORD_SHARE * len(claim.words)


def shared(claim: Claim, evidence: str) -> int:
    """How many of ``claim``'s numbers, names and words ``evidence`` holds (to rank passages
    that all support a claim)."""
    _, words, terms = _parsed(evidence)
    return (
        len(claim.numbers & numbers(evidence))
        + sum(n in words for n in claim.names)
        + len(claim.words & terms)
    )
