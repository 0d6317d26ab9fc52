"""A kept conversation: its answers, saved and loaded as JSON (``rag chat`` /save and /load,
the browser's storage) and exported as Markdown with the quoted sources and their links.

The JSON is ``{"format": "rag-conversation", "version": 1, "answers": [Answer.to_dict(), ...]}``:
each answer holds its question, text, checked citations and the passages it was given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.types import Answer, Citation, Hit, Message

FORMAT = "rag-conversation"
VERSION = 1


def history(answers: Sequence[Answer]) -> list[Message]:
    """The conversation as chat messages, for follow-up questions."""
    messages: list[Message] = []
    for answer in answers:
        messages.append({"role": "user", "content": answer.question})
        messages.append({"role": "assistant", "content": answer.text})
    return messages


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """An :class:`Answer` from :meth:`Answer.to_dict` data (unknown fields are ignored)."""
    fields = {k: v for k, v in data.items() if k in Answer.__dataclass_fields__}
    fields["citations"] = [_known(Citation, c) for c in data.get("citations") or []]
    fields["sources"] = [_known(Hit, h) for h in data.get("sources") or []]
    for hit in fields["sources"]:
        hit.screened = tuple(hit.screened or ())  # JSON gives a list
    return Answer(**fields)


def _known(cls: type, data: dict[str, Any]) -> Any:
    return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def to_json(answers: Sequence[Answer]) -> str:
    """The conversation as JSON text."""
    body = {"format": FORMAT, "version": VERSION, "answers": [a.to_dict() for a in answers]}
    return json.dumps(body, ensure_ascii=False, indent=1)


def from_json(text: str, where: str = "the conversation") -> list[Answer]:
    """The answers of a conversation saved by :func:`to_json`."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a saved conversation")
        if int(data.get("version", 0)) > VERSION:
            raise InputError(f"{where} was saved by a newer version of rag; upgrade to load it")
        return [answer_from_dict(a) for a in data["answers"]]
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{where} is not a conversation saved by rag ({str(exc).splitlines()[0][:80]}); "
            "give a file written by /save"
        ) from None


def to_markdown(answers: Sequence[Answer], title: str = "Conversation") -> str:
    """The conversation as Markdown: each question and answer, then the quoted sources of the
    answer with their titles, pages and links."""
    lines = [f"# {title}", ""]
    for i, answer in enumerate(answers, 1):
        lines += [f"## {i}. {answer.question}", "", answer.text, ""]
        for c in answer.citations:
            name = f"[{c.title or c.doc_id}]({c.url})" if c.url else (c.title or c.doc_id)
            page = f", p. {c.page}" if c.page else ""
            date = f", {c.date}" if c.date else ""
            lines += [f"> [{c.n}] {name}{date}{page} (`{c.doc_id}`)", ">", f"> “{c.quote}”", ""]
    return "\n".join(lines).rstrip() + "\n"


def save(path: Path | str, answers: Sequence[Answer]) -> Path:
    """Write the conversation to ``path``: Markdown when it ends in ``.md``, else JSON that
    :func:`load` reads back. Atomic: an interrupted save leaves the previous file."""
    from rag.fileio import atomic_write

    path = Path(path)
    text = to_markdown(answers) if path.suffix.lower() == ".md" else to_json(answers)
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot write {path} ({exc.strerror}); choose another file") from None
    return path


def load(path: Path | str) -> list[Answer]:
    """The answers of the conversation saved at ``path`` (JSON from :func:`save`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"cannot read {path} ({reason}); give a file written by /save") from None
    return from_json(text, str(path))
