"""Who may use a served app, and how much of it.

- Changing the articles (upload, remove) needs the admin token (``RAG_ADMIN_TOKEN``) whenever
  one is set, and always on an address other than loopback; a server on such an address with no
  admin token refuses to start unless told ``--insecure``.
- Asking can be open (default) or need the ask token (``RAG_ASK_TOKEN``; the admin token works
  too): a login page in the browser, a bearer token on the API.
- Limits a public server needs: questions waiting for the model (:class:`Gate`) and uploads a
  minute per client (:class:`RateLimit`). Question and request sizes are settings read where
  the request arrives.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rag.errors import AccessError, BusyError
from rag.settings import Settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.strip().lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _secret(value: object) -> str | None:
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return str(text) if text else None


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(
        str(given).encode("utf-8"), str(expected).encode("utf-8")
    )


@dataclass(frozen=True)
class Policy:
    """The access rules of one server, from its settings."""

    admin_token: str | None = None
    ask_token: str | None = None
    loopback: bool = True
    insecure: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The rules ``settings`` describe (host, tokens, the insecure flag)."""
        return cls(
            admin_token=_secret(settings.admin_token),
            ask_token=_secret(settings.ask_token),
            loopback=is_loopback(settings.host),
            insecure=settings.insecure,
        )

    @property
    def admin_required(self) -> bool:
        """Whether changing the articles needs the admin token."""
        return self.admin_token is not None or not (self.loopback or self.insecure)

    @property
    def ask_required(self) -> bool:
        """Whether asking needs a token (the ask token or the admin token)."""
        return self.ask_token is not None

    def check_start(self, host: str) -> None:
        """Refuse to serve a public address where anyone could change the articles."""
        if not self.loopback and self.admin_token is None and not self.insecure:
            raise AccessError(
                f"refusing to serve on {host} with no admin token: anyone could change the "
                "articles; set RAG_ADMIN_TOKEN, serve on 127.0.0.1, or pass --insecure"
            )

    def check_admin(self, token: str | None) -> None:
        """Raise unless ``token`` may change the articles."""
        if not self.admin_required:
            return
        if self.admin_token is None:
            raise AccessError(
                "changing the articles is off on this address; restart with RAG_ADMIN_TOKEN set"
            )
        if not _same(token, self.admin_token):
            raise AccessError("the admin token is missing or wrong; type the RAG_ADMIN_TOKEN")

    def may_ask(self, token: str | None) -> bool:
        """Whether ``token`` may ask questions."""
        if not self.ask_required:
            return True
        return _same(token, self.ask_token) or _same(token, self.admin_token)

    def check_ask(self, token: str | None) -> None:
        """Raise unless ``token`` may ask questions."""
        if not self.may_ask(token):
            raise AccessError("this server needs a token to ask; send the RAG_ASK_TOKEN")

    def login(self, username: str, password: str) -> bool:
        """The browser's login check (any user name; the password is a token)."""
        return self.may_ask(password)


class Gate:
    """Counts requests waiting for or holding the model; beyond ``limit`` they are refused at
    once with "busy, try again" instead of waiting without end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._guard = threading.Lock()

    @property
    def count(self) -> int:
        """Requests inside the gate now."""
        return self._count

    def enter(self) -> int:
        """Take a place; returns how many were inside before. Pair with :meth:`leave`."""
        with self._guard:
            if self._count >= self.limit:
                raise BusyError(
                    f"busy: {self._count} questions are waiting for the model; "
                    "try again in a minute"
                )
            self._count += 1
            return self._count - 1

    def leave(self) -> None:
        """Give the place back."""
        with self._guard:
            self._count = max(0, self._count - 1)

    @contextmanager
    def held(self) -> Iterator[int]:
        """:meth:`enter` and :meth:`leave` around a block; yields the place taken."""
        ahead = self.enter()
        try:
            yield ahead
        finally:
            self.leave()


class RateLimit:
    """At most ``per_minute`` events per key in any 60 seconds (a sliding window)."""

    def __init__(self, per_minute: int, what: str = "uploads") -> None:
        self.per_minute = per_minute
        self.what = what
        self._seen: dict[str, deque[float]] = {}
        self._guard = threading.Lock()

    def check(self, key: str, now: float | None = None) -> None:
        """Count one event for ``key``; raise :class:`BusyError` when over the limit."""
        now = time.monotonic() if now is None else now
        with self._guard:
            if len(self._seen) > 10_000:  # forget clients idle for a minute
                self._seen = {k: t for k, t in self._seen.items() if t and now - t[-1] < 60.0}
            times = self._seen.setdefault(key, deque())
            while times and now - times[0] >= 60.0:
                times.popleft()
            if len(times) >= self.per_minute:
                wait = int(60.0 - (now - times[0])) + 1
                raise BusyError(
                    f"too many {self.what}: at most {self.per_minute} a minute; "
                    f"try again in {wait} s"
                )
            times.append(now)
