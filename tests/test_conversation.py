"""Kept conversations: JSON round trip, Markdown export, and refusals of files that are not
one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import conversation
from rag.errors import InputError
from rag.types import Answer, Citation, Hit

DOC = "Anggota Aliansi Pasifik adalah Chile, Kolombia, Meksiko dan Peru."


def _answers() -> list[Answer]:
    hit = Hit("a.pdf#0", "a.pdf", DOC, 0, len(DOC), 0.9, "Aliansi", "https://x.org/a", page=3)
    cite = Citation(1, "a.pdf", "Aliansi", "a.pdf#0", 0, 25, DOC[:25], "https://x.org/a", page=3)
    plain = Citation(2, "b.txt", "", "b.txt#0", 0, 4, "Peru")
    return [
        Answer("Siapa anggotanya?", "Chile dan Peru [1][2].", [cite, plain], [hit], tokens=7),
        Answer("Harga saham?", "Maaf, artikel tidak memuat jawabannya.", refused=True),
    ]


def test_json_round_trip_keeps_citations_and_passages(tmp_path: Path) -> None:
    path = conversation.save(tmp_path / "c.json", _answers())
    loaded = conversation.load(path)
    assert loaded == _answers()
    assert conversation.history(loaded) == [
        {"role": "user", "content": "Siapa anggotanya?"},
        {"role": "assistant", "content": "Chile dan Peru [1][2]."},
        {"role": "user", "content": "Harga saham?"},
        {"role": "assistant", "content": "Maaf, artikel tidak memuat jawabannya."},
    ]


def test_markdown_quotes_sources_with_links_and_pages() -> None:
    text = conversation.to_markdown(_answers())
    assert "## 1. Siapa anggotanya?\n\nChile dan Peru [1][2]." in text
    assert "> [1] [Aliansi](https://x.org/a), p. 3 (`a.pdf`)" in text
    assert "> “Anggota Aliansi Pasifik a”" in text
    assert "> [2] b.txt (`b.txt`)" in text  # no title, no link
    assert "## 2. Harga saham?" in text


def test_files_that_are_not_conversations_are_refused(tmp_path: Path) -> None:
    cases = {
        "notes.json": json.dumps({"hello": 1}),
        "broken.json": "{not json",
        "list.json": "[1, 2]",
        "odd.json": json.dumps({"format": "rag-conversation", "version": 1}),
        "strings.json": json.dumps({"format": "rag-conversation", "version": 1, "answers": ["x"]}),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match="not a conversation saved by rag") as err:
            conversation.load(tmp_path / name)
        assert "\n" not in str(err.value)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "rag-conversation", "version": 99, "answers": []}))
    with pytest.raises(InputError, match="newer version"):
        conversation.load(newer)
    with pytest.raises(InputError, match="cannot read"):
        conversation.load(tmp_path / "absent.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="cannot read"):
        conversation.load(tmp_path / "bin.json")


def test_unknown_fields_from_a_later_version_are_ignored() -> None:
    data = _answers()[0].to_dict() | {"new_field": 1}
    data["citations"][0]["extra"] = "x"
    assert conversation.answer_from_dict(data) == _answers()[0]
