"""Example questions under the chat: the known questions for the bundled seed articles the
index holds, then questions made from article titles."""

from __future__ import annotations

from rag.library import Library
from ui.texts import texts

# (document id, a phrase of its text, the question): shown only when the index holds it.
SEED_EXAMPLES = (
    (
        "000_a9ce33f359e193a2.txt",
        "Aliansi Pasifik",
        "Negara apa saja yang menjadi anggota Aliansi Pasifik?",
    ),
    (
        "001_01c077a90a88fb6e.txt",
        "Migration Governance for Sustainable Development",
        "Di hotel mana Simposium Nasional Migration Governance for Sustainable Development "
        "diadakan?",
    ),
    (
        "004_3ce22eceb3ce4dae.txt",
        "INFID",
        "Siapa yang mewakili INFID dalam penandatanganan kerja sama dengan Komnas Perempuan?",
    ),
)
MAX_EXAMPLES = 4
SCAN_TEXTS_BELOW = 300  # look for seed articles by content only in small indexes
TITLE_CHARS = 60


def example_questions(library: Library, lang: str) -> list[str]:
    """Seed questions for the seed articles the index holds (by id, or in small indexes by a
    phrase of their text), then questions made from the other articles' titles."""
    docs = library.documents()
    ids = {d.id for d in docs}
    scan = len(docs) <= SCAN_TEXTS_BELOW
    found: list[str] = []
    seeds_present: set[str] = set()
    for doc_id, marker, question in SEED_EXAMPLES:
        holder = doc_id if doc_id in ids else None
        if holder is None and scan:
            holder = next(
                (d.id for d in docs if marker in (library.document_text(d.id) or "")), None
            )
        if holder is not None:
            found.append(question)
            seeds_present.add(holder)
    for doc in docs:
        if len(found) >= MAX_EXAMPLES:
            break
        if doc.id in seeds_present or not doc.title:
            continue
        title = doc.title
        if len(title) > TITLE_CHARS:
            title = title[: TITLE_CHARS - 1].rstrip() + "…"
        found.append(texts(lang)["example_title"].format(title=title))
    return found[:MAX_EXAMPLES]
