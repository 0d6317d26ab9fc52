"""What the user may be shown of the model's words: a link, a markdown link or image, an
e-mail address or a phone number only when a cited passage holds it as data (not inside a
sentence that instructs the assistant) and the question asks for one. A hostile article can
make the model write an address; it cannot make the screen show one. While the answer
streams, text from the first such token (or what may still become one) is held back, so the
checked answer decides it; ordinary words stream as they come."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import ASKS_CONTACT, CONTACT_LIKE, contacts, model_view
from rag.types import Citation, Hit

# The end of the text being written that may still become a contact: a word that may become a
# link or an address, or digits that may become a phone number.
_OPEN_TAIL = re.compile(
    r"(?:(?<!\S)(?:h|ht|htt|https?|w|ww|www)"  # a link's start
    r"|\[[^\]\n]*\]?"  # a markdown link's text
    r"|(?<![\w.,/])[+(]?\d[\d ()-]*"  # digits that may go on into a phone number
    r")$"
)


def stream_limit(raw: str) -> int:
    """How much of the model's text so far may be shown now: all of it up to the first
    contact, or what may still become one."""
    cut = len(raw)
    like = CONTACT_LIKE.search(raw)
    if like:
        cut = like.start()
    found = contacts(raw[:cut])
    if found:
        cut = found[0][0]
    tail = _OPEN_TAIL.search(raw[:cut])
    return tail.start() if tail else cut


def allowed_contacts(
    text: str, citations: Sequence[Citation], hits: Sequence[Hit], question: str
) -> str:
    """``text`` without the contacts the user may not be shown: each stays only when the
    question asks for one and a cited passage holds it outside any instruction sentence."""
    spans = contacts(text)
    if not spans:
        return text
    asked = bool(ASKS_CONTACT.search(question))
    cited = {c.n for c in citations}
    data = " ".join(model_view(h.text) for n, h in enumerate(hits, 1) if n in cited)
    out, at = [], 0
    for start, end in spans:
        keep = asked and text[start:end] in data
        out.append(text[at:start] if keep else text[at:start].rstrip())
        if keep:
            out.append(text[start:end])
        at = end
    out.append(text[at:])
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", "".join(out))).strip()
