"""Dates in article text: Indonesian and English forms, read as ISO ``YYYY-MM-DD``."""

from __future__ import annotations

import datetime as _dt
import re

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
    found: list[tuple[int, int, str | None]] = []
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
