"""The errors a user can see. Each carries a one-line message that says what to do; the CLI and
the UI print the message, never a traceback."""

from __future__ import annotations


class RagError(Exception):
    """Base class: ``str(err)`` is a single line fit to show a user."""


class InputError(RagError):
    """Bad input from the user: an empty question, an unreadable file, an unknown setting."""


class IndexStateError(RagError):
    """The index is missing, corrupt or built with another embedder."""


class StoreError(IndexStateError):
    """The database store is unreachable, lacks pgvector, or has a schema this version does not
    know."""


class ModelError(RagError):
    """The model file is missing, truncated or cannot be loaded, or the remote model failed."""


class AccessError(RagError):
    """A served app refused a request: a missing or wrong token, or a refused start-up."""


class BusyError(RagError):
    """A served app is at a limit (waiting questions, uploads a minute): try again later."""


def first_line(message: object) -> str:
    """The first line of an error's message ("" when it has none): errors are shown on one
    line."""
    lines = str(message).strip().splitlines()
    return lines[0] if lines else ""
