"""Text formats: front matter, Markdown and HTML become plain text plus title, date and URL.

``document_from_text`` turns one raw text of a given kind into a cleaned ``Document``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from rag.documents.cleaning import _SPACES, _clean, _heading, _normalise, _rx, short_title
from rag.documents.dates import _article_date, parse_date

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

    from rag.documents import Document

_FRONT_MATTER_KEY = _rx(
    r"^(title|judul|url|link|source|sumber|date|tanggal|published|author|penulis)\s*:\s*(.*)$"
)
_URL = re.compile(r"https?://\S+")


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
# Markdown


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


# ---------------------------------------------------------------------------------------------
# HTML


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


def _meta(soup: BeautifulSoup, attr: str, value: str) -> str | None:
    """The non-empty ``content`` of the ``<meta>`` whose ``attr`` is ``value``."""
    from bs4.element import Tag

    tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(value)}$", re.I)})
    content = tag.get("content") if isinstance(tag, Tag) else None
    return content.strip() if isinstance(content, str) and content.strip() else None


def _html_metadata(soup: BeautifulSoup) -> tuple[str | None, str | None, str | None]:
    """(title, date, url) of an HTML page, from its meta tags, headline and ``<time>``."""
    from bs4.element import Tag

    h1 = soup.find("h1")
    title_tag = soup.find("title")
    title = (
        _meta(soup, "property", "og:title")
        or (h1.get_text(" ", strip=True) if h1 else None)
        or (title_tag.get_text(" ", strip=True) if title_tag else None)
        or None
    )
    url = None
    canonical = soup.find("link", rel="canonical")
    if isinstance(canonical, Tag) and isinstance(canonical.get("href"), str):
        url = str(canonical["href"]).strip() or None
    url = url or _meta(soup, "property", "og:url")
    date = None
    for attr, value in _HTML_DATE_META:
        date = _date_field(_meta(soup, attr, value))
        if date:
            break
    if not date:
        time = soup.find("time", attrs={"datetime": True})
        if isinstance(time, Tag):
            date = _date_field(str(time["datetime"]))
    return title, date, url


def _html_text(soup: BeautifulSoup) -> str:
    """The text of the page's main article (or body), one block element per paragraph."""
    from bs4.element import Comment, NavigableString

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
    return root.get_text()


def _html(raw: str, base_url: str | None = None) -> tuple[str, dict[str, str | None]]:
    """(text before cleaning, title/date/url/author) of an HTML page: the article trafilatura
    finds in it (``rag.documents.web``), else the page's main block; metadata from
    trafilatura, else from the meta tags, headline and ``<time>``."""
    from bs4 import BeautifulSoup

    from rag.documents.web import extract_article

    soup = BeautifulSoup(raw, "html.parser")
    title, date, url = _html_metadata(soup)  # before _html_text drops <head>
    article = extract_article(raw, base_url)
    if article is None:
        return _html_text(soup), {"title": title, "date": date, "url": url, "author": None}
    found = {
        "title": article.title or title,
        "date": _date_field(article.date) or date,
        "url": _url_field(article.url) or url,
        "author": article.author,
    }
    return article.text, found


# ---------------------------------------------------------------------------------------------
# Documents


def document_from_text(
    doc_id: str,
    raw: str,
    *,
    kind: str = "txt",
    title: str | None = None,
    date: str | None = None,
    url: str | None = None,
    path: str | None = None,
    base_url: str | None = None,
) -> Document:
    """Build a cleaned ``Document`` from raw text; ``kind`` is "txt", "md" or "html". Explicit
    ``title``/``date``/``url`` win over what is found in the text; ``base_url`` is where a
    page was fetched from (its url when the page names no canonical one)."""
    from rag.documents import Document  # the package root defines it after importing this module

    found_title = found_date = found_url = author = None
    raw = _normalise(raw)
    if kind == "html":
        raw, found = _html(raw, base_url)
        found_title, found_date, found_url = found["title"], found["date"], found["url"]
        author = found["author"]
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
        url=url or found_url or base_url,
        path=path,
        author=author,
    )
