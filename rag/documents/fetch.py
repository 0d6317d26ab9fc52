"""Fetching a link for ingest (``rag ingest https://...``, the link box of the web app),
through ``httpx``: a time limit for the whole download, a size limit, redirects followed (up to
``MAX_REDIRECTS``), the content type checked. Every failure is one line (``InputError``) that
says what to do; it comes before anything is indexed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from rag.errors import InputError, first_line

MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
PDF_TYPES = ("application/pdf",)
TEXT_TYPES = ("text/plain",)
ACCEPTED_TYPES = HTML_TYPES + PDF_TYPES + TEXT_TYPES
_HEADERS = {
    "User-Agent": "Mozilla/5.0 (compatible; rag-ingest/0.1; a local news reader)",
    "Accept": "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8",
}
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


@dataclass(frozen=True)
class Fetched:
    """A downloaded page: the address it came from after redirects, its type and bytes."""

    url: str
    content_type: str
    body: bytes
    charset: str | None = None


def is_url(value: object) -> bool:
    """Whether ``value`` is an http(s) link (anything else is a path)."""
    return isinstance(value, str) and _URL.match(value.strip()) is not None


def _status_error(url: str, code: int, reason: str) -> InputError:
    said = f"{url} answered HTTP {code} {reason}".rstrip()
    if code in (404, 410):
        return InputError(f"{said}: no page there; check the link (open it in a browser)")
    if code in (401, 403):
        return InputError(
            f"{said}: the site wants a login or turns programs away; save the page from your "
            "browser and add the .html file"
        )
    if code == 429 or code >= 500:
        return InputError(f"{said}: the site is busy or failing; try again later")
    return InputError(f"{said}; check the link (open it in a browser)")


def _too_big(url: str, max_bytes: int) -> InputError:
    return InputError(
        f"{url} is over the {max_bytes / 1e6:g} MB limit for a page; save the article's text "
        "to a file and add that, or raise RAG_FETCH_MAX_MB"
    )


def _checked_type(url: str, response: Any) -> str:
    """The response's media type; ``InputError`` unless ingest can read it."""
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in ACCEPTED_TYPES:
        raise InputError(
            f"{url} is not a web page but {media}; give the link of an article page (or a "
            "PDF), or download the file and add it"
        )
    return media


def _read_body(url: str, response: Any, max_bytes: int, deadline: float) -> bytes:
    """The body of ``response``, stopped past ``max_bytes`` or past ``deadline``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_big(url, max_bytes)
    body = bytearray()
    for piece in response.iter_bytes():
        body += piece
        if len(body) > max_bytes:
            raise _too_big(url, max_bytes)
        if time.monotonic() > deadline:
            raise TimeoutError
    return bytes(body)


def fetch(url: str, timeout: float, max_bytes: int) -> Fetched:
    """Download ``url`` (http or https), following redirects, within ``timeout`` seconds in
    all and ``max_bytes``. Raises ``InputError`` for a bad link, an unreachable or slow site,
    an error status, too many redirects, a page too big, or a type ingest cannot read."""
    import httpx

    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers=_HEADERS,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise _status_error(url, response.status_code, response.reason_phrase)
            media = _checked_type(url, response)
            body = _read_body(url, response, max_bytes, deadline)
            return Fetched(str(response.url), media, body, response.charset_encoding)
    except httpx.TooManyRedirects as err:
        raise InputError(
            f"{url} redirects more than {MAX_REDIRECTS} times; open it in a browser and give "
            "the address it ends at"
        ) from err
    except (httpx.TimeoutException, TimeoutError) as err:
        raise InputError(
            f"{url} did not arrive within {timeout:g} s; try again, or raise RAG_FETCH_TIMEOUT"
        ) from err
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:
        raise InputError(
            f"{url} is not a link ingest can follow ({first_line(err)}); check it"
        ) from err
    except httpx.HTTPError as err:  # connection refused, DNS failure, a broken response
        raise InputError(
            f"cannot reach {url} ({type(err).__name__}: {first_line(err)}); check the link and "
            "that this machine is online"
        ) from err
