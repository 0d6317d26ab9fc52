"""The patterns that read text, in one place: words, numbers, names, sentence breaks and the
[n] citation markers. Each pattern says what it matches; the modules that read text import
them from here."""

from __future__ import annotations

import re

INDONESIAN_QUESTION_WORDS = frozenset(
    "apa apakah siapa siapakah berapa berapakah kapan kapankah bagaimana mengapa kenapa dimana "
    "mana manakah".split()
)
"""Indonesian question words: stop-words for BM25, markers of the language."""

WORD = re.compile(r"[^\W_]+", re.UNICODE)
"""A run of letters and digits."""

LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)
"""A run of letters only (for counting words and guessing the language)."""

TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
"""An analyzer token: a word, with its inner hyphens and apostrophes ("kerja-sama", "don't")."""

WORD_OR_NUMBER = re.compile(r"[^\W_]+(?:[.,/-]\d+)*", re.UNICODE)
"""A word, or a number with its inner separators ("9.660", "20/08/2021") kept whole."""

NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
"""A number as written, separators included ("9.660", "3,5", "14:00")."""

NAME = re.compile(r"(?<![\w-])[A-Z][\w-]*[A-Za-z0-9]")
"""A capitalised word of two or more characters: a name, or a sentence's first word."""

PASSAGE_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u201d\"])\s+|\n+")
"""Where a passage's sentences end (after closing quotes too)."""

ANSWER_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
"""Where an answer's sentences end (markers are first moved before the full stop)."""

CITATION = re.compile(r"\s*\[(\d+)\]")
"""One citation marker "[n]", with the space before it."""

CITATION_GROUP = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
"""A marker that may cite several passages: "[1, 3]", "[2;4]"."""

CITATIONS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")
"""Markers written after a sentence's full stop ("... 2015. [1]")."""

CHAT_CONTROL = re.compile(
    r"<\|[^<>|\s]{1,40}\|>"  # ChatML, Llama 3, Phi: <|im_start|>, <|eot_id|>
    r"|<\uff5c[^<>\s]{1,60}\uff5c>"  # DeepSeek: <｜begin▁of▁sentence｜>
    r"|</?(?:s|start_of_turn|end_of_turn)>"  # Llama 2, Gemma
    r"|\[/?INST\]|<</?SYS>>"  # Llama 2, Mistral
)
"""A chat-template control token written as text. llama.cpp reads such text in a prompt as
the control token itself, so an article could open a system turn of its own."""


def defang(text: str, sep: str = " ") -> str:
    """``text`` with every chat-template control token replaced by ``sep``: article text (and
    questions) reach the model as data, never as turn markers (prompt injection, OWASP LLM01)."""
    return CHAT_CONTROL.sub(sep, text) if "<" in text or "[" in text else text


CONTACT = re.compile(
    r"https?://[^\s<>\]\[()\"']+"  # a link
    r"|\bwww\.[^\s<>\]\[()\"']+"
    r"|\[[^\]\n]{0,80}\]\([^)\s]{1,200}\)"  # a markdown link or image: [text](target)
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # an e-mail address
    r"|(?<![\w.,/])(?:\+\d{1,3}[ -]?)?(?:\(\d{1,4}\)[ -]?)?\d{2,4}(?:[ -]\d{2,8}){1,4}"
    r"(?![\w/]|[.,]\d)"
)
"""A link, a markdown link or image, an e-mail address, or something written like a phone
number (nine digits or more in groups; :func:`contacts` counts): text an answer may show only
when a cited passage holds it and the question asks for it."""

CONTACT_LIKE = re.compile(r"https?:|www\.|\]\(|@")
"""Where text may start becoming a :data:`CONTACT`: the stream holds back from here."""

ASKS_CONTACT = re.compile(
    r"\b(?:link|links|tautan|situs|website|web|laman|url|alamat|address|e-?mail|surel|"
    r"telepon|telp|phone|nomor|kontak|contact|hubungi|reach)\b",
    re.IGNORECASE,
)
"""A question that asks for a link, an address or a number to call."""


def contacts(text: str) -> list[tuple[int, int]]:
    """The :data:`CONTACT` spans of ``text``, closing punctuation left out (a phone-like one
    needs nine digits or more)."""
    out = []
    for m in CONTACT.finditer(text):
        found = m.group().rstrip(".,;:!?")
        if found[0] in "+(0123456789" and sum(c.isdigit() for c in found) < 9:
            continue
        out.append((m.start(), m.start() + len(found)))
    return out
