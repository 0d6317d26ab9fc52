"""Loading news articles from files and cleaning the debris that scraped web pages carry.

``load_paths`` turns files and folders (.txt, .md, .html/.htm, .jsonl) into ``Document``s whose
``text`` is plain, cleaned text: chunk offsets index into it. ``clean_text`` is the rule-based,
line-level cleaner (comment forms, "other stories" lists, view counters, contact footers, broken
lines) shared by every format.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".jsonl")

TITLE_MAX_CHARS = 80


_WHITESPACE = re.compile(r"\s+")


def text_hash(text: str) -> str:
    """sha256 hex digest of ``text`` without its whitespace (see ``Document.content_hash``)."""
    return hashlib.sha256(_WHITESPACE.sub("", text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Document:
    """One article: ``text`` is the cleaned text every chunk offset points into."""

    id: str
    text: str
    title: str
    date: str | None = None
    url: str | None = None
    path: str | None = None

    @property
    def content_hash(self) -> str:
        """sha256 hex digest of the cleaned text without its whitespace: what decides whether
        to re-embed, and which documents are stored once. Copies of one article that differ
        only in spacing ("Rp 6, 5 miliar" from a tokenised corpus beside "Rp 6,5 miliar")
        share it; a change of spacing alone does not re-embed a document."""
        return text_hash(self.text)


# ---------------------------------------------------------------------------------------------
# Dates

_MONTHS: dict[str, int] = {
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "pebruari": 2, "february": 2, "feb": 2, "peb": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "aug": 8, "agu": 8, "agt": 8, "agst": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "oct": 10, "okt": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "december": 12, "dec": 12, "des": 12,
}  # fmt: skip
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DMY_WORDS = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_ALT})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_MDY_WORDS = re.compile(
    rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE
)
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?=\b|T)")
_NUMERIC = re.compile(
    r"(?<![\d/.])(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4}|\d{2})(?![\d/])"
    r"|(?<![\d/.])(\d{1,2})([.-])(\d{1,2})\5(\d{4})(?![\d.])"
)
_PAREN_NUMERIC = re.compile(
    r"\(\s*(?:[A-Za-z]+,?\s+)?(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4}|\d{2})\s*\)"
)
# Dates this far into the text are more likely events mentioned in passing than the article's.
_DATE_HEAD_CHARS = 400
_PAREN_DATE_HEAD_CHARS = 1500


def _iso(year: int, month: int, day: int) -> str | None:
    if year < 100:
        year += 2000 if year < 70 else 1900
    if month > 12 >= day:  # written month/day
        month, day = day, month
    try:
        return _dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _dates_in(text: str) -> list[tuple[int, int, str]]:
    """Every full date (year known) in ``text`` as (start, end, ISO date), in text order."""
    found: list[tuple[int, int, str]] = []
    for m in _DMY_WORDS.finditer(text):
        found.append((m.start(), m.end(), _iso(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))))
    for m in _MDY_WORDS.finditer(text):
        found.append((m.start(), m.end(), _iso(int(m[3]), _MONTHS[m[1].lower()], int(m[2]))))
    for m in _ISO.finditer(text):
        found.append((m.start(), m.end(), _iso(int(m[1]), int(m[2]), int(m[3]))))
    for m in _NUMERIC.finditer(text):
        day, month, year = (m[1], m[2], m[3]) if m[1] else (m[4], m[6], m[7])
        found.append((m.start(), m.end(), _iso(int(year), int(month), int(day))))
    return sorted((start, end, iso) for start, end, iso in found if iso)


def parse_date(value: str) -> str | None:
    """The first full date in ``value`` as ISO ``YYYY-MM-DD``; Indonesian and English forms
    ("15 November 2019", "Nov 15, 2019", "(20/08/2021)", "2019-11-15T10:00"), else None."""
    dates = _dates_in(value)
    return dates[0][2] if dates else None


def _article_date(text: str) -> str | None:
    """The article's own date, guessed from the cleaned text."""
    for m in _PAREN_NUMERIC.finditer(text[:_PAREN_DATE_HEAD_CHARS]):
        iso = _iso(int(m[3]), int(m[2]), int(m[1]))
        if iso:
            return iso
    return parse_date(text[:_DATE_HEAD_CHARS])


# ---------------------------------------------------------------------------------------------
# Line-level cleaning


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SPACE_CHARS = re.compile(r"[\t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r" {2,}")
_BULLET = re.compile(r"^(?:[•·▪◦●■□►▶➢➤✓✔‣⁃]|[-*+](?=\s))\s*")
_LIST_ITEM = re.compile(r"^(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)]\s|^\(\w{1,3}\)\s")
_PUNCT_ONLY = re.compile(r"^[\W_]*$")
# "3, 5 persen", "Rp 114, 48 miliar": a decimal comma that tokenised text split off. Lists
# ("21, 16, 12"), ranges ("3, 0-3, 5") and years ("2004, 25 orang") stay as they are.
_SPLIT_DECIMAL = re.compile(r"(?<![\d,\-] )(?<![\d,\-])\b(\d{1,3}), (\d{1,3})\b(?![,\-]? ?\d)")

# A line matching one of these ends the article: everything from it on is page furniture.
_TAIL_MARKERS = [
    _rx(
        r"^(?:publikasi|berita|artikel|tulisan|postingan) (?:lain(?:n?ya)?|terkait|terbaru|"
        r"populer|pilihan)(?: lain(?:n?ya)?)?\W*$"
    ),
    _rx(r"^(?:baca|lihat) (?:juga )?(?:berita|artikel) (?:lain(?:n?ya)?|terkait)\W*$"),
    _rx(
        r"^(?:related|more|other|recent|popular|latest)(?: (?:posts?|articles?|stories|news|"
        r"reading|content|topics))?\W*$"
    ),
    _rx(r"^(?:you (?:may|might) also like|recommended(?: for you)?|more from .{1,40})\W*$"),
    _rx(r"^(?:leave|post|add|write|submit) (?:a |your )?(?:reply|comment|response)\W*$"),
    _rx(r"^(?:tinggalkan|tulis|kirim|berikan) (?:balasan|komentar|tanggapan)\w*\W*$"),
    _rx(r"^pertanyaan\s*/\s*komentar\W*$"),
    _rx(r"^\d*\s*(?:comments?|komentar|responses?|tanggapan)\s*(?:\(\d+\))?\W*$"),
    _rx(r"^(?:share this|like this|bagikan(?: artikel| berita)?(?: ini)?)\s*:?$"),
]
# Lines dropped wherever they are.
_DROP_LINES = [
    _rx(r"^(?:dibaca|dilihat|views?|read|hits|pembaca)\s*:?\s*[\d.,]+\s*(?:kali|times|x)?\W*$"),
    _rx(r"^[\d.,]+\s*(?:views|reads|kali dibaca|x dibaca|pembaca)\W*$"),
    _rx(r"^your email address will not be published\b.*$"),
    _rx(r"^alamat email anda tidak akan dipublikasikan\b.*$"),
    _rx(r"^required fields are marked\b.*$"),
    _rx(r"^this site uses akismet\b.*$"),
    _rx(r"^save my name, email,? and website\b.*$"),
    _rx(r"^(?:baca|lihat|simak) (?:juga|pula)\s*:.*$"),
    _rx(r"^(?:read|see) (?:also|more)\s*:.*$"),
    _rx(r"^(?:advertisement|iklan|sponsored|scroll to continue(?: with content)?|loading\W*)$"),
    _rx(r"^(?:tags?|topik|topics?|kategori|categories|category|filed under|label)\s*:.{0,200}$"),
    _rx(r"^(?:©|\(c\)|copyright\b|hak cipta\b)(?=.*(?:\d{4}|rights reserved|dilindungi)).{0,100}$"),
    _rx(
        r"^(?:(?:share|bagikan)(?: (?:on|ke|to|via))?:?\s*)?(?:(?:facebook|twitter|x|whatsapp|"
        r"linkedin|telegram|line|pinterest|email|e-mail|print|cetak|copy link|salin tautan)"
        r"[\s,|/·•]*){2,}$"
    ),
    _rx(r"^(?:home|beranda)\s*[»>›|/].{0,150}$"),
]
_BREADCRUMB_SEP = re.compile(r"\s[»>›|]\s")
# Publication lines: a label then a date, or a date on its own.
_PUB_LINE = _rx(
    r"^(?:dipublikasikan|diterbitkan|dipublish|diposting|dipost|ditulis|diperbarui|diupdate|"
    r"terbit|posted|published|updated|last updated|tanggal|date)\b(?:\s+(?:pada|on|at|tanggal))?"
    r"\s*:?\s*(?P<rest>.*)$"
)
_WEEKDAYS = (
    r"senin|selasa|rabu|kamis|jumat|jum'at|sabtu|minggu|ahad|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"
)
_TIME = r"(?:(?:pukul|jam|at)\s*)?\d{1,2}[:.]\d{2}(?:[:.]\d{2})?\s*(?:am|pm|wib|wita|wit|utc|gmt)?"
_DATE_LINE_NOISE = _rx(rf"\b(?:{_WEEKDAYS})\b|{_TIME}|\b(?:by|oleh)\b.*$")
_CONTACT = _rx(
    r"^(?:telp|telepon|tel|phone|ph|fax|faks|faksimili|hp|wa|whatsapp|e-?mail|surel|website|"
    r"web|situs|alamat|address)\b\.?\s*(?:&\s*(?:fax|faks|telp|tel)\b\.?\s*)?"
    r"(?::|(?=[(+]?\d[\d\s().-]{5,}))"
)
_FOOTER_LABEL = _rx(
    r"^(?:biro |bagian |divisi )?(?:humas|hubungan masyarakat|publikasi dan media)\b"
)
_FRONT_MATTER_KEY = _rx(
    r"^(title|judul|url|link|source|sumber|date|tanggal|published|author|penulis)\s*:\s*(.*)$"
)
_URL = re.compile(r"https?://\S+")


def _normalise(raw: str) -> str:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    raw = _INVISIBLE.sub("", raw)
    return _SPACE_CHARS.sub(" ", raw)


_TRAILER = re.compile(r"[.!?…][\"'”’]?\s*\([^()]{1,40}\)$")  # "... 2015.(marpa)"


def _ends_sentence(line: str) -> bool:
    if _TRAILER.search(line):
        return True
    return line.rstrip("\"'”’»)]*").endswith((".", "!", "?", "…", ":"))


def _words(line: str) -> list[str]:
    return [w for w in line.split() if any(c.isalpha() for c in w)]


def _lowercase_ratio(line: str) -> float:
    words = _words(line)
    if not words:
        return 0.0
    lower = sum(1 for w in words if w.lstrip("\"'“‘(").lstrip()[:1].islower())
    return lower / len(words)


def _is_prose(line: str, pieces: int) -> bool:
    """Looks like a sentence in progress rather than a heading or a label."""
    if pieces > 1 or len(line) >= 120:
        return True
    return len(_words(line)) >= 6 and _lowercase_ratio(line) >= 0.4


def _is_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 25
        and len(line) <= 200
        and not line.rstrip("\"'”’»)]").endswith((".", ",", ";", ":"))
    )


def _is_caps(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) >= 0.9 * len(letters)


def _is_body(line: str) -> bool:
    return len(line) >= 100 or (len(_words(line)) >= 8 and _ends_sentence(line))


def _pub_date(line: str) -> str | None:
    """The date of a publication line ("Dipublikasikan Pada : Jumat, 15 November 2019",
    "Posted on May 3, 2021", or a date alone), else None."""
    if len(line) > 100:
        return None
    m = _PUB_LINE.match(line)
    rest = m["rest"] if m else line
    dates = _dates_in(rest)
    if not dates:
        return None
    for start, end, _ in reversed(dates):
        rest = rest[:start] + " " + rest[end:]
    # What is left besides dates, weekdays, times and a byline: a label at most.
    left = _words(_DATE_LINE_NOISE.sub(" ", rest))
    return dates[0][2] if len(left) <= (2 if m else 1) else None


def _is_breadcrumb(line: str) -> bool:
    parts = _BREADCRUMB_SEP.split(line)
    return len(parts) >= 3 and all(0 < len(p.split()) <= 5 for p in parts)


def _clean(raw: str) -> tuple[str, list[str]]:
    """Cleaned text and the dates of the publication lines removed from it."""
    lines = [
        _SPLIT_DECIMAL.sub(r"\1,\2", _SPACES.sub(" ", ln.strip()))
        for ln in _normalise(raw).split("\n")
    ]
    bulleted = [False] * len(lines)
    for i, ln in enumerate(lines):
        stripped = _BULLET.sub("", ln)
        if stripped != ln:
            lines[i], bulleted[i] = stripped.strip(), True

    body_seen = False
    for i, ln in enumerate(lines):
        if any(p.match(ln) for p in _TAIL_MARKERS):
            if body_seen:
                del lines[i:], bulleted[i:]
                break
            lines[i] = ""  # page furniture above the article ("Related", "Share this:")
        body_seen = body_seen or _is_body(ln)

    dates: list[str] = []
    contact: set[int] = set()
    for i, ln in enumerate(lines):
        if not ln:
            continue
        date = _pub_date(ln)
        if date:
            dates.append(date)
        drop = (
            date is not None
            or _PUNCT_ONLY.match(ln) is not None
            or any(p.match(ln) for p in _DROP_LINES)
            or (_is_breadcrumb(ln) and not _ends_sentence(ln))
        )
        footer_label = _FOOTER_LABEL.match(ln) and not _ends_sentence(ln) and len(_words(ln)) <= 10
        if len(ln) <= 150 and (_CONTACT.match(ln) or footer_label):
            contact.add(i)
            drop = True
        if drop:
            lines[i] = ""

    # Caps lines next to a contact block are its letterhead ("PUBLIKASI DAN MEDIA ...").
    changed = True
    while changed:
        changed = False
        for i, ln in enumerate(lines):
            if not ln or not _is_caps(ln) or _ends_sentence(ln):
                continue
            for step in (-1, 1):
                j = i + step
                while 0 <= j < len(lines) and not lines[j] and j not in contact:
                    j += step
                if j in contact:
                    lines[i] = ""
                    contact.add(i)
                    changed = True
                    break

    blocks: list[list[str]] = []
    current: list[str] = []
    pieces = 0
    block: list[str] = []
    for ln, bullet in zip(lines, bulleted, strict=True):
        if not ln:
            if current:
                block.append(" ".join(current))
                current, pieces = [], 0
            if block:
                blocks.append(block)
                block = []
            continue
        if current and _joins(" ".join(current), pieces, ln, bullet):
            current.append(ln)
            pieces += 1
            continue
        if current:
            block.append(" ".join(current))
        current, pieces = [ln], 1
    if current:
        block.append(" ".join(current))
    if block:
        blocks.append(block)

    # A short label right above the headline ("Kabar Perempuan") is a section name.
    if blocks:
        first = blocks[0]
        while (
            len(first) >= 2
            and len(first[0].split()) <= 4
            and _is_heading(first[0])
            and _is_heading(first[1])
        ):
            first.pop(0)

    text = "\n\n".join("\n".join(b) for b in blocks)
    return _SPACES.sub(" ", text).strip(), dates


def _joins(current: str, pieces: int, nxt: str, bullet: bool) -> bool:
    """Whether line ``nxt`` continues the sentence in ``current`` (a line broken mid-sentence)."""
    if bullet or _ends_sentence(current) or _LIST_ITEM.match(nxt):
        return False
    first = nxt.lstrip("\"'“‘(")[:1]
    if first.islower() or first.isdigit():
        return True
    if current.endswith((",", "-", "–", "(", "&", "/")):
        return True
    return _is_prose(current, pieces)


def clean_text(raw: str) -> str:
    """Plain article text from scraped text: drops comment forms, "other stories" lists, view
    counters, publication lines, contact footers, bullets and punctuation-only lines; joins lines
    broken mid-sentence; keeps paragraph breaks as blank lines and collapses runs of spaces."""
    return _clean(raw)[0]


# ---------------------------------------------------------------------------------------------
# Titles and metadata


_DATELINE = [
    re.compile(r"^\(\s*[^()]{1,40}?\s*\)\s*[-–—:]?\s*"),
    # The dash must stand apart ("Semarang (14/11) - ", "Jakarta.Site.id.-"): a hyphen inside a
    # word ("Layang-Layang") is no dateline.
    re.compile(
        r"^[A-Z][\w.]*(?:[ ,]+[A-Z][\w.]*){0,3}\s*(?:\([^()]{1,20}\))?"
        r"(?:\s+[-–—]+\s*|[.)][-–—]+\s*|\s*[-–—]+\s+)"
    ),
]
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?…])(?:[\"'”’)]*)(?:\s|$)", re.DOTALL)


def short_title(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """A title made from the first sentence: dateline dropped, at most ``limit`` characters,
    cut at a word."""
    first = text.strip().split("\n", 1)[0]
    m = _FIRST_SENTENCE.match(first)
    sentence = m[1] if m else first
    for dateline in _DATELINE:
        stripped = dateline.sub("", sentence, count=1)
        if stripped != sentence and len(stripped) >= 20:
            sentence = stripped
            break
    sentence = sentence.strip().rstrip(".")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—(“\"'") + "…"


def _heading(text: str) -> str | None:
    first, _, rest = text.partition("\n")
    if rest.strip() and _is_heading(first) and len(_words(first)) >= 2:
        return first.strip()
    return None


def _front_matter(raw: str) -> tuple[dict[str, str], str]:
    """``Key: value`` lines (or a ``---`` YAML block) at the top: the fields and the rest."""
    fields: dict[str, str] = {}
    lines = raw.split("\n")
    if lines and lines[0].strip() == "---":
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                for ln in lines[1:end]:
                    key, sep, value = ln.partition(":")
                    if sep and key.strip() and not key.startswith((" ", "\t", "-")):
                        fields[key.strip().lower()] = value.strip().strip("\"'")
                return fields, "\n".join(lines[end + 1 :])
        return fields, raw
    i = 0
    while i < len(lines):
        m = _FRONT_MATTER_KEY.match(lines[i].strip())
        if not m:
            break
        fields[m[1].lower()] = m[2].strip()
        i += 1
    if fields and (i == len(lines) or not lines[i].strip()):
        return fields, "\n".join(lines[i:])
    return {}, raw


def _field(fields: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = fields.get(key)
        if value:
            return value
    return None


def _date_field(value: str | None) -> str | None:
    if not value:
        return None
    return parse_date(value) or value.strip() or None


def _url_field(value: str | None) -> str | None:
    if not value:
        return None
    m = _URL.search(value)
    return m[0] if m else None


# ---------------------------------------------------------------------------------------------
# Formats


_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
_MD_RULE = re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$")
_MD_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
_MD_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_MD_INLINE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),
    (re.compile(r"!\[[^\]]*\]\[[^\]]*\]"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(https?://[^>]+)>"), r"\1"),
    (re.compile(r"<[^>\n]+>"), ""),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
]


def markdown_to_text(md: str) -> tuple[str, str | None]:
    """Plain text of Markdown (headings as their own paragraphs, links keep their text, images
    dropped) and the first heading."""
    out: list[str] = []
    title: str | None = None
    in_code = False
    for ln in md.split("\n"):
        if _MD_FENCE.match(ln):
            in_code = not in_code
            out.append("")
            continue
        if in_code:
            out.append(ln)
            continue
        if _MD_RULE.match(ln) or _MD_REFDEF.match(ln) or _MD_TABLE_SEP.match(ln) and "-" in ln:
            out.append("")
            continue
        if _MD_SETEXT.match(ln) and out and out[-1].strip():
            if title is None:
                title = out[-1].strip()
            out.append("")
            continue
        ln = re.sub(r"^\s{0,3}(?:>\s?)+", "", ln)
        heading = _MD_HEADING.match(ln)
        if heading:
            ln = heading[1]
        for pattern, repl in _MD_INLINE:
            ln = pattern.sub(repl, ln)
        if ln.strip().startswith("|") and ln.strip().endswith("|"):
            ln = " | ".join(cell.strip() for cell in ln.strip().strip("|").split("|"))
        if heading:
            if title is None and ln.strip():
                title = ln.strip()
            out.extend(["", ln, ""])
        else:
            out.append(ln)
    return "\n".join(out), title


_HTML_DROP = ["script", "style", "nav", "footer", "aside", "form", "noscript", "template", "svg"]
_HTML_DROP += ["iframe", "head", "button", "select"]
_HTML_BLOCKS = [
    "p", "div", "section", "article", "main", "header", "h1", "h2", "h3", "h4", "h5", "h6",
    "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr", "figure",
    "figcaption", "address", "hr", "body", "center",
]  # fmt: skip
_HTML_DATE_META = [
    ("property", "article:published_time"),
    ("name", "article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "pubdate"),
    ("name", "publishdate"),
    ("name", "date"),
    ("name", "dc.date"),
    ("property", "og:published_time"),
]


def _html(raw: str) -> tuple[str, str | None, str | None, str | None]:
    """(text before cleaning, title, date, url) of an HTML page."""
    from bs4 import BeautifulSoup
    from bs4.element import Comment, NavigableString, Tag

    soup = BeautifulSoup(raw, "html.parser")

    def meta(attr: str, value: str) -> str | None:
        tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(value)}$", re.I)})
        content = tag.get("content") if isinstance(tag, Tag) else None
        return content.strip() if isinstance(content, str) and content.strip() else None

    h1 = soup.find("h1")
    title_tag = soup.find("title")
    title = (
        meta("property", "og:title")
        or (h1.get_text(" ", strip=True) if h1 else None)
        or (title_tag.get_text(" ", strip=True) if title_tag else None)
        or None
    )
    url = None
    canonical = soup.find("link", rel="canonical")
    if isinstance(canonical, Tag) and isinstance(canonical.get("href"), str):
        url = str(canonical["href"]).strip() or None
    url = url or meta("property", "og:url")
    date = None
    for attr, value in _HTML_DATE_META:
        date = _date_field(meta(attr, value))
        if date:
            break
    if not date:
        time = soup.find("time", attrs={"datetime": True})
        if isinstance(time, Tag):
            date = _date_field(str(time["datetime"]))

    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    articles = soup.find_all("article")
    root = (
        max(articles, key=lambda a: len(a.get_text()))
        if articles
        else soup.find("main") or soup.find("body") or soup
    )
    for string in list(root.find_all(string=True)):
        if isinstance(string, NavigableString) and not string.find_parent(["pre", "textarea"]):
            string.replace_with(re.sub(r"\s+", " ", str(string)))
    for br in root.find_all("br"):
        br.replace_with("\n")
    for block in root.find_all(_HTML_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    return root.get_text(), title, date, url


# ---------------------------------------------------------------------------------------------
# Loading


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from err
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def document_from_text(
    doc_id: str,
    raw: str,
    *,
    kind: str = "txt",
    title: str | None = None,
    date: str | None = None,
    url: str | None = None,
    path: str | None = None,
) -> Document:
    """Build a cleaned ``Document`` from raw text; ``kind`` is "txt", "md" or "html". Explicit
    ``title``/``date``/``url`` win over what is found in the text."""
    found_title = found_date = found_url = None
    raw = _normalise(raw)
    if kind == "html":
        raw, found_title, found_date, found_url = _html(raw)
    else:
        fields, raw = _front_matter(raw)
        found_title = _field(fields, "title", "judul")
        found_date = _date_field(_field(fields, "date", "tanggal", "published"))
        found_url = _url_field(_field(fields, "url", "link", "source", "sumber"))
        if kind == "md":
            raw, md_title = markdown_to_text(raw)
            found_title = found_title or md_title
    text, pub_dates = _clean(raw)
    final_title = (
        title or found_title or _heading(text) or short_title(text) or Path(doc_id).stem or doc_id
    )
    return Document(
        id=doc_id,
        text=text,
        title=_SPACES.sub(" ", final_title.replace("\n", " ")).strip(),
        date=_date_field(date)
        or found_date
        or (pub_dates[0] if pub_dates else None)
        or _article_date(text),
        url=url or found_url,
        path=path,
    )


def _jsonl(path: Path, doc_path: str) -> Iterator[Document]:
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{where}: not valid JSON ({err.msg}); fix or remove it") from err
        if not isinstance(record, dict):
            raise InputError(f'{where}: expected an object like {{"id": ..., "text": ...}}')
        doc_id, text = record.get("id"), record.get("text")
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise InputError(f'{where}: needs a non-empty string "id"')
        if not isinstance(text, str):
            raise InputError(f'{where}: needs a string "text"')
        extra = {}
        for key in ("title", "url", "date"):
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                raise InputError(f'{where}: "{key}" must be a string')
            extra[key] = value or None
        yield document_from_text(doc_id.strip(), text, path=doc_path, **extra)


def _load_file(path: Path, doc_id: str) -> Iterator[Document]:
    suffix = path.suffix.lower()
    doc_path = str(path.resolve())
    if suffix == ".jsonl":
        yield from _jsonl(path, doc_path)
        return
    kind = {".md": "md", ".html": "html", ".htm": "html"}.get(suffix, "txt")
    yield document_from_text(doc_id, _read(path), kind=kind, path=doc_path)


def _folder_files(folder: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            path = Path(dirpath) / name
            found.append((path, path.relative_to(folder).as_posix()))
    return sorted(found, key=lambda item: item[1])


def load_paths(paths: Iterable[Path | str]) -> Iterator[Document]:
    """Documents from files and folders (searched recursively, in sorted order, hidden files
    skipped). A file's id is its path relative to the folder given, or its name when given
    directly; a .jsonl line's id is its record's ``id``. Raises ``InputError`` for missing paths,
    unsupported files given explicitly, bad .jsonl lines and ids used by two different files."""
    seen_files: set[Path] = set()
    owners: dict[str, str] = {}
    for given in paths:
        given = Path(given)
        if given.is_dir():
            files = _folder_files(given)
        elif given.is_file():
            if given.suffix.lower() not in SUPPORTED_SUFFIXES:
                allowed = ", ".join(SUPPORTED_SUFFIXES)
                raise InputError(f"cannot read {given}: unsupported file type; use {allowed}")
            files = [(given, given.name)]
        else:
            raise InputError(f"no such file or folder: {given}")
        for path, doc_id in files:
            resolved = path.resolve()
            if resolved in seen_files:
                continue
            seen_files.add(resolved)
            for doc in _load_file(path, doc_id):
                owner = owners.get(doc.id)
                if owner is not None:
                    where = f"twice in {path}" if owner == str(path) else f"by {owner} and {path}"
                    raise InputError(f"document id {doc.id!r} is used {where}; rename one of them")
                owners[doc.id] = str(path)
                yield doc
