"""HTML extraction: trafilatura (with the line cleaner after it, the default) against the
earlier BeautifulSoup path, on the saved news pages in ``tests/data/pages``.

For each page ``expected.json`` lists sentences of the article body (each must be kept),
debris (navigation, related stories, comments, forms, footers: each must be gone) and the
title, date, canonical URL and author. Prints, per page and path, how many of each came out
right, and the time per page. Seconds, no model.

    .venv/bin/python benchmarks/bench_html.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.documents import Document, document_from_text  # noqa: E402

PAGES = Path(__file__).resolve().parents[1] / "tests" / "data" / "pages"
FIELDS = ("title", "date", "url", "author")


def score(doc: Document, expected: dict) -> tuple[int, list[str], int]:
    """(body sentences kept, debris kept, metadata fields right)."""
    text = " ".join(doc.text.split())
    body = sum(sentence in text for sentence in expected["body"])
    debris = [d for d in expected["debris"] if d.lower() in text.lower()]
    meta = sum(getattr(doc, f) == expected[f] for f in FIELDS)
    return body, debris, meta


def run(name: str, raw: str, old: bool) -> tuple[Document, float]:
    started = time.perf_counter()
    if old:
        with mock.patch("rag.documents.web.extract_article", return_value=None):
            doc = document_from_text(name, raw, kind="html")
    else:
        doc = document_from_text(name, raw, kind="html")
    return doc, time.perf_counter() - started


def main() -> None:
    expected = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))
    document_from_text("warm", "<p>warm up the imports</p>", kind="html")
    totals = {"old": [0, 0, 0, 0], "trafilatura": [0, 0, 0, 0]}
    print(f"{'page':<20} {'path':<12} {'body':>6} {'debris':>7} {'meta':>5} {'ms':>6}  debris kept")
    for name, want in expected.items():
        raw = (PAGES / name).read_text(encoding="utf-8")
        for path in ("old", "trafilatura"):
            doc, seconds = run(name, raw, old=path == "old")
            body, debris, meta = score(doc, want)
            t = totals[path]
            t[0] += body
            t[1] += len(debris)
            t[2] += meta
            t[3] += 1
            print(
                f"{name:<20} {path:<12} {body:>3}/{len(want['body']):<2} "
                f"{len(debris):>3}/{len(want['debris']):<3} {meta:>2}/4 {seconds * 1000:>6.0f}  "
                + "; ".join(debris)
            )
    n_body = sum(len(w["body"]) for w in expected.values())
    n_debris = sum(len(w["debris"]) for w in expected.values())
    for path, (body, debris, meta, pages) in totals.items():
        print(
            f"total {path:<12} body {body}/{n_body}, debris kept {debris}/{n_debris}, "
            f"metadata {meta}/{4 * pages}"
        )


if __name__ == "__main__":
    main()
