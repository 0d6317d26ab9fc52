"""Rule-based, line-level cleaning of scraped article text, and titles made from it.

``clean_text`` drops comment forms, "other stories" lists, view counters, publication lines and
contact footers, and joins lines broken mid-sentence; every format goes through it.
"""

from __future__ import annotations

import re

from rag.documents.dates import _dates_in

TITLE_MAX_CHARS = 80


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


def _lines(raw: str) -> tuple[list[str], list[bool]]:
    """The stripped lines of ``raw`` with bullets removed, and which of them had one."""
    lines = [
        _SPLIT_DECIMAL.sub(r"\1,\2", _SPACES.sub(" ", ln.strip()))
        for ln in _normalise(raw).split("\n")
    ]
    bulleted = [False] * len(lines)
    for i, ln in enumerate(lines):
        stripped = _BULLET.sub("", ln)
        if stripped != ln:
            lines[i], bulleted[i] = stripped.strip(), True
    return lines, bulleted


def _cut_tail(lines: list[str], bulleted: list[bool]) -> None:
    """Cut everything from the first tail marker after the body; blank the ones above it."""
    body_seen = False
    for i, ln in enumerate(lines):
        if any(p.match(ln) for p in _TAIL_MARKERS):
            if body_seen:
                del lines[i:], bulleted[i:]
                break
            lines[i] = ""  # page furniture above the article ("Related", "Share this:")
        body_seen = body_seen or _is_body(ln)


def _drop_debris(lines: list[str]) -> tuple[list[str], set[int]]:
    """Blank publication, furniture and contact lines: the dates of the publication lines, and
    where the contact lines were."""
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
    return dates, contact


def _drop_letterhead(lines: list[str], contact: set[int]) -> None:
    """Blank caps lines next to a contact block: its letterhead ("PUBLIKASI DAN MEDIA ...")."""
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


def _blocks(lines: list[str], bulleted: list[bool]) -> list[list[str]]:
    """Paragraphs (split at blank lines) of joined lines: a line broken mid-sentence joins the
    one before it."""
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
    return blocks


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


def _clean(raw: str) -> tuple[str, list[str]]:
    """Cleaned text and the dates of the publication lines removed from it."""
    lines, bulleted = _lines(raw)
    _cut_tail(lines, bulleted)
    dates, contact = _drop_debris(lines)
    _drop_letterhead(lines, contact)
    blocks = _blocks(lines, bulleted)
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


def join_broken_lines(raw: str) -> str:
    """Paragraphs of laid-out text (a PDF page): lines broken mid-sentence joined, bullets and
    punctuation-only lines out, runs of spaces collapsed; no line is judged debris."""
    lines, bulleted = _lines(raw)
    lines = ["" if _PUNCT_ONLY.match(ln) else ln for ln in lines]
    text = "\n\n".join("\n".join(b) for b in _blocks(lines, bulleted))
    return _SPACES.sub(" ", text).strip()


def clean_text(raw: str) -> str:
    """Plain article text from scraped text: drops comment forms, "other stories" lists, view
    counters, publication lines, contact footers, bullets and punctuation-only lines; joins lines
    broken mid-sentence; keeps paragraph breaks as blank lines and collapses runs of spaces."""
    return _clean(raw)[0]


# ---------------------------------------------------------------------------------------------
# Titles


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
    """The first line of ``text`` when it reads as a heading above more text."""
    first, _, rest = text.partition("\n")
    if rest.strip() and _is_heading(first) and len(_words(first)) >= 2:
        return first.strip()
    return None
