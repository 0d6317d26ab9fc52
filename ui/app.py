"""The Gradio app: a chat page with streamed, cited answers and highlighted sources, an
"Articles" tab to list, add and remove indexed documents, and per-person settings.

A thin layer: answers come from ``rag.answer.ask_stream``, documents from ``rag.index`` and
``rag.ingest``. Everything taken from articles or questions is HTML-escaped before it reaches
the page, and the chat renders no Markdown, so an article cannot run script or load anything.
"""

from __future__ import annotations

import html
import logging
import os
import re
import socket
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import InputError, RagError

if TYPE_CHECKING:
    import gradio as gr

    from rag.index import Index
    from rag.settings import Settings

log = logging.getLogger(__name__)

AskFn = Callable[..., Iterable[Any]]

BUILTIN_MODELS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".jsonl")
DEFAULT_MAX_UPLOAD_MB = 10.0
LANGUAGES = (("Bahasa Indonesia", "id"), ("English", "en"))

# Example questions for the bundled seed articles: shown only when the index holds them.
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
_SCAN_TEXTS_BELOW = 300  # look for seed articles by content only in small indexes

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Ask the articles",
        "subtitle": "Answers come only from the indexed news articles; every [n] points to "
        "its source.",
        "language": "Language",
        "tab_chat": "Chat",
        "tab_articles": "Articles",
        "chatbot": "Conversation",
        "chat_empty": "Ask a question about the indexed articles.",
        "question": "Your question",
        "placeholder": "Ask something about the articles…",
        "send": "Ask",
        "new_chat": "New conversation",
        "examples": "Example questions",
        "settings": "Settings",
        "model": "Model",
        "k": "Passages given to the model (k)",
        "show_all": "Show all retrieved passages, not only the cited ones",
        "sources": "Sources",
        "sources_empty": "The passages behind each answer appear here.",
        "searching": "Searching the articles…",
        "waiting": "Waiting for its turn…",
        "reading": "The model is reading these {n} passages…",
        "reading_bubble": "Reading {n} passages… (see Sources)",
        "all_given": "Passages given to the model",
        "cited_only": "Passages cited in the answer",
        "no_cited": "The answer cites no passage.",
        "refused_sources": "Passages searched; none of them answers the question.",
        "refused_label": "No answer in the articles",
        "error_label": "Could not answer",
        "unexpected": "Something went wrong ({kind}); the server log has the details.",
        "empty_question": "Type a question first.",
        "turn": "Question {n}",
        "no_date": "no date",
        "open_article": "open article",
        "docs": "Indexed articles",
        "docs_count": "{n} article(s) in the index.",
        "col_title": "Title",
        "col_date": "Date",
        "col_chunks": "Chunks",
        "col_id": "Id",
        "refresh": "Refresh",
        "upload": "Add articles (.txt .md .html .jsonl, at most {mb} MB each)",
        "add": "Add to the index",
        "remove_pick": "Articles to remove",
        "remove": "Remove selected",
        "no_index": "No articles are indexed yet: add some in the Articles tab.",
        "added": "Done: {added} added, {updated} updated, {unchanged} unchanged; now "
        "{documents} articles, {chunks} chunks.",
        "removed": "Removed {n} article(s).",
        "pick_files": "Choose one or more files first.",
        "pick_docs": "Choose the articles to remove first.",
        "bad_type": "{name}: only .txt .md .html .jsonl files can be added.",
        "too_big": "{name} is larger than {mb} MB; split it into smaller files.",
        "binary": "{name} is not a text file.",
        "empty": "{name} is empty.",
        "unchanged_note": "Nothing was changed.",
        "stage": "Indexing",
        "example_title": 'What does the article "{title}" report?',
    },
    "id": {
        "title": "Tanya artikel",
        "subtitle": "Jawaban hanya diambil dari artikel berita yang terindeks; setiap [n] "
        "menunjuk ke sumbernya.",
        "language": "Bahasa",
        "tab_chat": "Tanya jawab",
        "tab_articles": "Artikel",
        "chatbot": "Percakapan",
        "chat_empty": "Ajukan pertanyaan tentang artikel yang terindeks.",
        "question": "Pertanyaan Anda",
        "placeholder": "Tanyakan sesuatu tentang artikel…",
        "send": "Tanya",
        "new_chat": "Percakapan baru",
        "examples": "Contoh pertanyaan",
        "settings": "Pengaturan",
        "model": "Model",
        "k": "Jumlah kutipan untuk model (k)",
        "show_all": "Tampilkan semua kutipan yang ditemukan, bukan hanya yang dirujuk",
        "sources": "Sumber",
        "sources_empty": "Kutipan yang mendasari setiap jawaban muncul di sini.",
        "searching": "Mencari di artikel…",
        "waiting": "Menunggu giliran…",
        "reading": "Model sedang membaca {n} kutipan ini…",
        "reading_bubble": "Membaca {n} kutipan… (lihat Sumber)",
        "all_given": "Kutipan yang diberikan ke model",
        "cited_only": "Kutipan yang dirujuk jawaban",
        "no_cited": "Jawaban ini tidak merujuk kutipan mana pun.",
        "refused_sources": "Kutipan yang diperiksa; tidak ada yang menjawab pertanyaan ini.",
        "refused_label": "Tidak ada jawabannya di artikel",
        "error_label": "Tidak dapat menjawab",
        "unexpected": "Terjadi kesalahan tak terduga ({kind}); rinciannya ada di log server.",
        "empty_question": "Tulis pertanyaan dulu.",
        "turn": "Pertanyaan {n}",
        "no_date": "tanpa tanggal",
        "open_article": "buka artikel",
        "docs": "Artikel terindeks",
        "docs_count": "{n} artikel di indeks.",
        "col_title": "Judul",
        "col_date": "Tanggal",
        "col_chunks": "Potongan",
        "col_id": "Id",
        "refresh": "Muat ulang",
        "upload": "Tambah artikel (.txt .md .html .jsonl, maks. {mb} MB per berkas)",
        "add": "Tambahkan ke indeks",
        "remove_pick": "Artikel yang akan dihapus",
        "remove": "Hapus yang dipilih",
        "no_index": "Belum ada artikel terindeks: tambahkan di tab Artikel.",
        "added": "Selesai: {added} ditambahkan, {updated} diperbarui, {unchanged} tidak "
        "berubah; kini {documents} artikel, {chunks} potongan.",
        "removed": "{n} artikel dihapus.",
        "pick_files": "Pilih satu berkas atau lebih dulu.",
        "pick_docs": "Pilih artikel yang akan dihapus dulu.",
        "bad_type": "{name}: hanya berkas .txt .md .html .jsonl yang bisa ditambahkan.",
        "too_big": "{name} lebih besar dari {mb} MB; pecah menjadi berkas yang lebih kecil.",
        "binary": "{name} bukan berkas teks.",
        "empty": "{name} kosong.",
        "unchanged_note": "Tidak ada yang diubah.",
        "stage": "Mengindeks",
        "example_title": 'Apa isi berita "{title}"?',
    },
}

CSS = """
#rag-header h1 {margin: 0; font-size: 1.6em;}
#rag-header p {margin: .2em 0 0; color: var(--body-text-color-subdued);}
.rag-msg {white-space: normal; overflow-wrap: anywhere;}
a.rag-cite {font-weight: 600; text-decoration: none; color: var(--color-accent);
  cursor: pointer; padding: 0 1px; border-radius: 3px;}
a.rag-cite:hover, a.rag-cite:focus {text-decoration: underline;
  background: var(--color-accent-soft);}
.rag-refusal {border-left: 4px solid #7b97bf; background: rgba(123, 151, 191, .12);
  padding: .5em .75em; border-radius: 6px;}
.rag-refusal-label {font-weight: 600; display: block; margin-bottom: .25em;}
.rag-error {border-left: 4px solid #c58b2c; background: rgba(197, 139, 44, .12);
  padding: .4em .75em; border-radius: 6px;}
.rag-streaming::after {content: "▍"; opacity: .6;}
.rag-pending {color: var(--body-text-color-subdued); font-style: italic;}
.rag-sources-scroll {max-height: 72vh; overflow-y: auto; padding-right: .25em;}
#rag-sources h3 {margin: .1em 0 .4em;}
.rag-turn > summary {cursor: pointer; font-weight: 600; margin: .3em 0;}
.rag-note {color: var(--body-text-color-subdued); margin: .2em 0 .4em; font-size: .92em;}
.rag-src-list {list-style: none; padding: 0; margin: 0;}
.rag-src {margin: .45em 0; padding: .5em .65em; border: 1px solid var(--border-color-primary);
  border-radius: 8px; scroll-margin: 1.5em; transition: box-shadow .3s;}
.rag-src.rag-focus {box-shadow: 0 0 0 3px var(--color-accent);}
.rag-src-head {display: flex; gap: .5em; flex-wrap: wrap; align-items: baseline;}
.rag-src-n {font-weight: 700;}
.rag-src-title {font-weight: 600;}
.rag-src-date {color: var(--body-text-color-subdued); font-size: .9em;}
.rag-src-text {white-space: pre-wrap; margin: .35em 0 0; font-size: .93em; line-height: 1.45;}
.rag-src-text mark {background: #fde68a; color: #1f2937; padding: 0 1px; border-radius: 2px;}
button.rag-example {white-space: normal; text-align: left; justify-content: flex-start;
  height: auto;}
.rag-quote {margin: .35em 0 0; font-style: italic;}
.rag-status-ok {color: var(--body-text-color);}
.rag-status-error {color: #b45309; font-weight: 600;}
"""

# Clicking [n] in an answer scrolls its passage into view and flashes it. Delegated from the
# document so it survives every re-render of the chat.
JS = """
() => {
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  document.addEventListener('click', (ev) => {
    const link = ev.target && ev.target.closest ? ev.target.closest('a.rag-cite') : null;
    if (!link) return;
    ev.preventDefault();
    const id = (link.getAttribute('href') || '').replace(/^#/, '');
    const el = id ? document.getElementById(id) : null;
    if (!el) return;
    const details = el.closest('details');
    if (details) details.open = true;
    document.querySelectorAll('.rag-src.rag-focus').forEach((x) => x.classList.remove('rag-focus'));
    el.classList.add('rag-focus');
    el.scrollIntoView({behavior: 'smooth', block: 'center'});
  }, true);
}
"""

_UNSET = object()
_CITE = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


# ---------------------------------------------------------------------------------------------
# Text helpers


def esc(text: object) -> str:
    """HTML-escape ``text`` for any HTML sink, including template characters ``$ { } ```."""
    out = html.escape(str(text), quote=True)
    return (
        out.replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


def _lines(escaped: str) -> str:
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def _safe_url(url: str | None) -> str | None:
    if url and re.match(r"^https?://[^\s]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def _one_line(message: str) -> str:
    first = str(message).strip().splitlines()
    return first[0] if first else ""


def _src_id(turn_id: int, n: int) -> str:
    return f"rag-src-{turn_id}-{n}"


def link_citations(text: str, turn_id: int, linkable: set[int]) -> str:
    """Escaped ``text`` with each ``[n]`` (n in ``linkable``) made a link to its source."""

    def repl(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*,\s*", match.group(1))]
        if not all(n in linkable for n in numbers):
            return match.group(0)
        return "".join(
            f'<a class="rag-cite" href="#{_src_id(turn_id, n)}" data-n="{n}">[{n}]</a>'
            for n in numbers
        )

    return _CITE.sub(repl, _lines(esc(text)))


# ---------------------------------------------------------------------------------------------
# Uploads


def upload_dir(settings: Settings) -> Path:
    """Where uploaded files are kept: a folder next to the index (``<index>-uploads``)."""
    index = Path(settings.index_dir).resolve()
    return index.parent / f"{index.name}-uploads"


def safe_upload_name(name: str) -> str:
    """A file name that cannot leave its folder: last path part only, ASCII letters, digits,
    ``._-``, no leading dot, at most 120 characters; the suffix is lower-cased."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "upload"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(path: Path, name: str, max_bytes: int) -> tuple[str, dict[str, str]] | None:
    """Why the file at ``path`` (sent as ``name``) may not be added, as a ``TEXTS`` key and its
    fields, or None when it is fine."""
    shown = safe_upload_name(name)
    if Path(shown).suffix not in UPLOAD_SUFFIXES:
        return "bad_type", {"name": shown}
    try:
        size = path.stat().st_size
    except OSError:
        return "empty", {"name": shown}
    if size > max_bytes:
        return "too_big", {"name": shown, "mb": f"{max_bytes / 1e6:g}"}
    if size == 0:
        return "empty", {"name": shown}
    with path.open("rb") as fh:
        if b"\x00" in fh.read(65536):
            return "binary", {"name": shown}
    return None


def store_uploads(
    files: list[tuple[Path, str]], folder: Path
) -> tuple[list[Path], Callable[[], None]]:
    """Copy ``(path, sent name)`` pairs into ``folder`` under safe names. Returns the stored
    paths and a function that undoes the copy (restoring files it overwrote)."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    stored: list[Path] = []
    previous: dict[Path, bytes | None] = {}

    def rollback() -> None:
        for target, old in previous.items():
            try:
                if old is None:
                    target.unlink(missing_ok=True)
                else:
                    target.write_bytes(old)
            except OSError:
                log.exception("could not undo upload of %s", target)

    try:
        for source, name in files:
            safe = safe_upload_name(name)
            target = (root / safe).resolve()
            n = 2
            while target in previous:
                target = (root / f"{Path(safe).stem}-{n}{Path(safe).suffix}").resolve()
                n += 1
            if target.parent != root:
                raise InputError(f"refusing to store {name!r} outside {root}")
            previous[target] = target.read_bytes() if target.exists() else None
            tmp = target.with_name(f".{target.name}.part")
            tmp.write_bytes(source.read_bytes())
            os.replace(tmp, target)
            stored.append(target)
    except BaseException:
        rollback()
        raise
    return stored, rollback


# ---------------------------------------------------------------------------------------------
# The index, as the UI reads it


class _Library:
    """The documents of ``settings.index_dir``, reloaded when the index changes on disk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._stamp: object = _UNSET
        self._index: Index | None = None
        self._error: str | None = None
        self.write_lock = threading.Lock()

    def _manifest_stamp(self) -> object:
        from rag.index import MANIFEST

        try:
            st = (Path(self.settings.index_dir) / MANIFEST).stat()
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def snapshot(self) -> tuple[Index | None, str | None]:
        """The loaded index (or None) and, when it could not be loaded, the reason."""
        from rag.index import Index

        stamp = self._manifest_stamp()
        with self._lock:
            if stamp is not None and stamp == self._stamp:
                return self._index, self._error
            try:
                self._index = Index.load(self.settings.index_dir, self.settings.embed_model)
                self._error = None
            except RagError as exc:
                self._index, self._error = None, _one_line(str(exc))
            self._stamp = stamp
            return self._index, self._error

    def documents(self) -> list[Any]:
        """The indexed documents (empty when there is no index)."""
        index, _ = self.snapshot()
        return index.documents() if index is not None else []

    def document_text(self, doc_id: str) -> str | None:
        """The cleaned text of ``doc_id``, or None when it is not (or no longer) indexed."""
        index, _ = self.snapshot()
        if index is None:
            return None
        try:
            return index.document_text(doc_id)
        except RagError:
            return None


def example_questions(library: _Library, lang: str) -> list[str]:
    """Seed questions for the seed articles the index holds, then questions made from titles."""
    docs = library.documents()
    ids = {d.id for d in docs}
    scan = len(docs) <= _SCAN_TEXTS_BELOW
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
        title = doc.title if len(doc.title) <= 60 else doc.title[:59].rstrip() + "…"
        found.append(TEXTS[lang]["example_title"].format(title=title))
    return found[:MAX_EXAMPLES]


# ---------------------------------------------------------------------------------------------
# Rendering a conversation (a list of turn dicts held in per-session gr.State)


def _new_turn(turn_id: int, question: str) -> dict[str, Any]:
    return {
        "id": turn_id,
        "question": question,
        "status": "searching",  # queued | searching | reading | streaming | done | refused | error
        "text": "",
        "hits": [],
        "citations": [],
        "error": "",
        "crash": "",
    }


def _shown_numbers(turn: dict[str, Any], show_all: bool) -> list[int]:
    numbers = list(range(1, len(turn["hits"]) + 1))
    if show_all or turn["status"] in ("queued", "searching", "reading", "streaming", "refused"):
        return numbers
    cited = {c.n for c in turn["citations"]}
    return [n for n in numbers if n in cited]


def render_turn_answer(turn: dict[str, Any], lang: str, show_all: bool) -> str:
    """The assistant bubble of ``turn`` as safe HTML."""
    t = TEXTS[lang]
    status = turn["status"]
    if status == "error":
        message = turn["error"] or t["unexpected"].format(kind=turn.get("crash", "error"))
        label, message = esc(t["error_label"]), esc(message)
        return f'<div class="rag-msg rag-error">⚠ {label}: {message}</div>'
    if status in ("queued", "searching"):
        note = t["waiting"] if status == "queued" else t["searching"]
        return f'<span class="rag-msg rag-pending">{esc(note)}</span>'
    if status == "reading" or (status == "streaming" and not turn["text"].strip()):
        note = t["reading_bubble"].format(n=len(turn["hits"]))
        return f'<span class="rag-msg rag-pending">{esc(note)}</span>'
    body = link_citations(turn["text"], turn["id"], set(_shown_numbers(turn, show_all)))
    if status == "refused":
        return (
            f'<div class="rag-msg rag-refusal"><span class="rag-refusal-label">ℹ '
            f"{esc(t['refused_label'])}</span>{body}</div>"
        )
    live = " rag-streaming" if status == "streaming" else ""
    return f'<div class="rag-msg rag-answer{live}">{body}</div>'


def render_chat(turns: list[dict[str, Any]], lang: str, show_all: bool) -> list[dict[str, str]]:
    """Chatbot messages for ``turns``: every string is escaped HTML (the chat renders no
    Markdown)."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        user = f'<div class="rag-msg">{_lines(esc(turn["question"]))}</div>'
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": render_turn_answer(turn, lang, show_all)})
    return messages


def _spans_in(
    base: str, base_start: int, citations: list[Any]
) -> tuple[list[tuple[int, int]], list[str]]:
    """Highlight spans (relative to ``base``) for ``citations``, and quotes that could not be
    placed."""
    spans: list[tuple[int, int]] = []
    loose: list[str] = []
    for c in citations:
        s, e = c.start - base_start, c.end - base_start
        quote = c.quote or ""
        if 0 <= s < e <= len(base) and (not quote or base[s:e] == quote):
            spans.append((s, e))
        elif quote and (pos := base.find(quote)) >= 0:
            spans.append((pos, pos + len(quote)))
        elif quote:
            loose.append(quote)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged, loose


def render_passage(hit: Any, citations: list[Any], doc_text: Callable[[str], str | None]) -> str:
    """The passage of ``hit`` as escaped HTML with the spans quoted by ``citations`` marked.
    A quote reaching outside the chunk widens the excerpt using the document text."""
    base, base_start = hit.text, hit.start
    outside = [c for c in citations if c.start < hit.start or c.end > hit.end]
    if outside:
        text = doc_text(hit.doc_id)
        lo = min([hit.start] + [c.start for c in outside])
        hi = max([hit.end] + [c.end for c in outside])
        if text is not None and lo >= 0 and hi <= len(text) and text[hit.start : hit.end] == base:
            base, base_start = text[lo:hi], lo
    spans, loose = _spans_in(base, base_start, citations)
    parts: list[str] = []
    pos = 0
    for s, e in spans:
        parts.append(esc(base[pos:s]))
        parts.append(f"<mark>{esc(base[s:e])}</mark>")
        pos = e
    parts.append(esc(base[pos:]))
    out = f'<p class="rag-src-text">{"".join(parts)}</p>'
    for quote in loose:
        out += f'<p class="rag-quote">“<mark>{esc(quote)}</mark>”</p>'
    return out


def render_sources(
    turns: list[dict[str, Any]],
    lang: str,
    show_all: bool,
    doc_text: Callable[[str], str | None] = lambda _id: None,
) -> str:
    """The sources panel: for each turn (newest first, older ones folded) its numbered
    passages with title, date, link and the quoted spans highlighted."""
    t = TEXTS[lang]
    out = [f"<h3>{esc(t['sources'])}</h3>", '<div class="rag-sources-scroll">']
    if not turns:
        out.append(f'<p class="rag-note">{esc(t["sources_empty"])}</p>')
    for pos, turn in enumerate(reversed(turns)):
        status = turn["status"]
        head = f"{t['turn'].format(n=turn['id'])}: {turn['question']}"
        opened = " open" if pos == 0 else ""
        out.append(f'<details class="rag-turn"{opened}><summary>{esc(head)}</summary>')
        numbers = _shown_numbers(turn, show_all)
        if status in ("queued", "searching"):
            note = t["waiting"] if status == "queued" else t["searching"]
        elif status in ("reading", "streaming"):
            note = t["reading"].format(n=len(turn["hits"]))
        elif status == "error":
            note = t["error_label"]
        elif status == "refused" and numbers:
            note = t["refused_sources"]
        elif not numbers:
            note = t["no_cited"]
        else:
            note = t["all_given"] if show_all else t["cited_only"]
        out.append(f'<p class="rag-note">{esc(note)}</p><ol class="rag-src-list">')
        for n in numbers:
            hit = turn["hits"][n - 1]
            cites = [c for c in turn["citations"] if c.n == n]
            cls = "rag-src rag-cited" if cites else "rag-src"
            date = hit.date or t["no_date"]
            url = _safe_url(hit.url)
            link = (
                f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow">'
                f"{esc(t['open_article'])}</a>"
                if url
                else ""
            )
            out.append(
                f'<li class="{cls}" id="{_src_id(turn["id"], n)}" data-n="{n}">'
                f'<div class="rag-src-head"><span class="rag-src-n">[{n}]</span>'
                f'<span class="rag-src-title">{esc(hit.title or hit.doc_id)}</span>'
                f'<span class="rag-src-date">{esc(date)}</span>{link}</div>'
                f"{render_passage(hit, cites, doc_text)}</li>"
            )
        out.append("</ol></details>")
    out.append("</div>")
    return "".join(out)


def _history(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    history: list[dict[str, str]] = []
    for turn in turns:
        if turn["status"] in ("done", "refused") and turn["text"]:
            history.append({"role": "user", "content": turn["question"]})
            history.append({"role": "assistant", "content": turn["text"]})
    return history


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# ---------------------------------------------------------------------------------------------
# The app


def _default_ask() -> AskFn:
    from rag.answer import ask_stream

    return ask_stream


def build_app(
    settings: Settings,
    ask_fn: AskFn | None = None,
    *,
    lang: str = "id",
    max_upload_mb: float | None = None,
    chat_concurrency: int = 1,
    queue_size: int = 64,
) -> gr.Blocks:
    """The Gradio app over the index in ``settings``.

    ``ask_fn`` defaults to ``rag.answer.ask_stream`` (same signature; tests pass a fake).
    ``chat_concurrency`` answers run at once (the rest wait in the queue and see their place);
    ``max_upload_mb`` caps each uploaded file (default ``settings.max_upload_mb`` if present,
    else 10 MB).
    """
    import gradio as gr

    from rag.answer import Answer, Sources

    _PROGRESS = gr.Progress()  # gradio spots the progress parameter by this default
    ask = ask_fn or _default_ask()
    library = _Library(settings)
    base = settings.model_dump()
    mb = max_upload_mb or float(getattr(settings, "max_upload_mb", DEFAULT_MAX_UPLOAD_MB))
    max_bytes = int(mb * 1e6)
    lang = lang if lang in TEXTS else "id"
    t0 = TEXTS[lang]
    models = list(BUILTIN_MODELS)
    if settings.model not in models:
        models.insert(0, settings.model)

    def overrides(model: str | None, k: float | None) -> dict[str, Any]:
        given = dict(base)
        if model:
            given["model"] = model
        if k:
            given["k"] = int(k)
        return given

    def stream_turn(
        turn: dict[str, Any], history: list[dict[str, str]], model: str | None, k: float | None
    ) -> Iterator[str]:
        """Fill ``turn`` from ask_fn's events; yields the kind of each change."""
        events: Any = None
        try:
            events = ask(turn["question"], history=history, **overrides(model, k))
            for event in events:
                if isinstance(event, Sources):
                    turn["hits"] = list(event.hits)
                    turn["status"] = "reading" if turn["hits"] else "searching"
                    yield "sources"
                elif isinstance(event, str):
                    turn["text"] += event
                    turn["status"] = "streaming"
                    yield "text"
                elif isinstance(event, Answer):
                    turn["text"] = event.text
                    turn["citations"] = list(event.citations)
                    if event.sources:
                        turn["hits"] = list(event.sources)
                    turn["status"] = "refused" if event.refused else "done"
                    turn["answer"] = event
                    yield "answer"
            if turn["status"] not in ("done", "refused"):
                turn["status"] = "done"
        except RagError as exc:
            turn["status"], turn["error"] = "error", _one_line(str(exc))
        except Exception as exc:
            log.exception("answering %r failed", turn["question"])
            turn["status"], turn["crash"] = "error", type(exc).__name__
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        yield "end"

    def take_question(
        question: str, turns: list[dict[str, Any]] | None, lang: str, show_all: bool
    ) -> tuple[Any, ...]:
        """Show the question at once (not queued), marked as waiting for its answer."""
        question = (question or "").strip()
        turns = list(turns or [])
        if not question:
            gr.Info(TEXTS[lang]["empty_question"])
            return gr.skip(), gr.skip(), turns, gr.skip()
        turn = _new_turn(max((x["id"] for x in turns), default=0) + 1, question)
        turn["status"] = "queued"
        turns.append(turn)
        return render_chat(turns, lang, show_all), sources_html(turns, lang, show_all), turns, ""

    def answer_queued(
        turns: list[dict[str, Any]] | None, lang: str, model: str, k: float, show_all: bool
    ) -> Iterator[tuple[Any, ...]]:
        """Answer the oldest waiting question of this session, streaming into the chat."""
        turns = list(turns or [])
        turn = next((x for x in turns if x["status"] == "queued"), None)
        if turn is None:
            yield gr.skip(), gr.skip(), turns
            return
        history = _history(turns[: turns.index(turn)])
        turn["status"] = "searching"
        yield render_chat(turns, lang, show_all), sources_html(turns, lang, show_all), turns
        for kind in stream_turn(turn, history, model, k):
            sources = sources_html(turns, lang, show_all) if kind != "text" else gr.skip()
            yield render_chat(turns, lang, show_all), sources, turns

    def respond(
        question: str,
        turns: list[dict[str, Any]] | None,
        lang: str,
        model: str,
        k: float,
        show_all: bool,
    ) -> Iterator[tuple[Any, ...]]:
        """Both steps in one event: the ``/chat`` API endpoint."""
        first = take_question(question, turns, lang, show_all)
        yield first
        if (question or "").strip():
            for chat, panel, now in answer_queued(first[2], lang, model, k, show_all):
                yield chat, panel, now, gr.skip()

    def sources_html(turns: list[dict[str, Any]], lang: str, show_all: bool) -> str:
        return render_sources(turns, lang, show_all, library.document_text)

    def api_ask(question: str, model: str = settings.model, k: int = settings.k) -> dict[str, Any]:
        """Answer ``question`` from the indexed articles: text with [n] citations, the
        citations (quoted spans) and the passages given to the model."""
        turn = _new_turn(1, (question or "").strip())
        if not turn["question"]:
            raise gr.Error("the question is empty; type a question")
        for _ in stream_turn(turn, [], model, k):
            pass
        if turn["status"] == "error":
            raise gr.Error(turn["error"] or TEXTS["en"]["unexpected"].format(kind=turn["crash"]))
        answer = turn.get("answer")
        return {
            "question": turn["question"],
            "text": turn["text"],
            "refused": turn["status"] == "refused",
            "citations": _jsonable(turn["citations"]),
            "sources": [
                {
                    f: getattr(h, f, None)
                    for f in ("chunk_id", "doc_id", "title", "date", "url", "start", "end", "text")
                }
                for h in turn["hits"]
            ],
            "total_s": getattr(answer, "total_s", None),
        }

    # --- articles -------------------------------------------------------------------------

    def docs_views(lang: str) -> tuple[Any, ...]:
        import pandas as pd

        t = TEXTS[lang]
        index, error = library.snapshot()
        docs = index.documents() if index is not None else []
        rows = [[d.title, d.date or "", d.chunks, d.id] for d in docs]
        headers = [t["col_title"], t["col_date"], t["col_chunks"], t["col_id"]]
        if error and not (Path(settings.index_dir) / "manifest.json").exists():
            note = t["no_index"]
        else:
            note = error or t["docs_count"].format(n=len(docs))
        examples = example_questions(library, lang)
        choices = [(f"{d.title} — {d.id}", d.id) for d in docs]
        return (
            gr.Dataframe(value=pd.DataFrame(rows, columns=headers), headers=headers),
            gr.Dropdown(choices=choices, value=[], label=t["remove_pick"]),
            gr.Column(visible=bool(examples)),
            f'<p class="rag-note">{esc(t["examples"])}</p>',
            *[
                gr.Button(value=examples[i], visible=True)
                if i < len(examples)
                else gr.Button(visible=False)
                for i in range(MAX_EXAMPLES)
            ],
            f'<p class="rag-note">{esc(note)}</p>',
            gr.Chatbot(placeholder=t["chat_empty"] if docs else t["no_index"]),
        )

    def status(message: str, ok: bool) -> str:
        cls = "rag-status-ok" if ok else "rag-status-error"
        return f'<p class="{cls}">{esc(_one_line(message))}</p>'

    def add_files(
        files: list[str] | None, lang: str, progress: gr.Progress = _PROGRESS
    ) -> tuple[Any, ...]:
        from rag.ingest import ingest

        t = TEXTS[lang]
        if not files:
            return (status(t["pick_files"], False), *[gr.skip()] * (len(docs_outputs) + 1))
        items = [(Path(f), Path(f).name) for f in files]
        problems = [p for path, name in items if (p := check_upload(path, name, max_bytes))]
        if problems:
            key, fields = problems[0]
            msg = t[key].format(**fields) + " " + t["unchanged_note"]
            return (status(msg, False), *[gr.skip()] * (len(docs_outputs) + 1))

        def report(done: int, total: int, stage: str) -> None:
            if total:
                progress((done, total), desc=f"{t['stage']}: {stage}")

        with library.write_lock:
            stored, undo = store_uploads(items, upload_dir(settings))
            try:
                progress(0, desc=t["stage"])
                summary = ingest(stored, settings, progress=report)
            except RagError as exc:
                undo()
                return (
                    status(f"{exc} {t['unchanged_note']}", False),
                    *[gr.skip()] * (len(docs_outputs) + 1),
                )
            except Exception as exc:
                undo()
                log.exception("ingesting uploads failed")
                msg = t["unexpected"].format(kind=type(exc).__name__) + " " + t["unchanged_note"]
                return (status(msg, False), *[gr.skip()] * (len(docs_outputs) + 1))
        msg = t["added"].format(
            **{
                k: getattr(summary, k, 0)
                for k in ("added", "updated", "unchanged", "documents", "chunks")
            }
        )
        return (status(msg, True), *docs_views(lang), None)

    def remove_docs(ids: list[str] | None, lang: str) -> tuple[Any, ...]:
        from rag.ingest import remove

        t = TEXTS[lang]
        if not ids:
            return (status(t["pick_docs"], False), *[gr.skip()] * len(docs_outputs))
        folder = upload_dir(settings)
        paths = {d.id: d.path for d in library.documents()}
        with library.write_lock:
            try:
                summary = remove(list(ids), settings)
            except RagError as exc:
                return (status(str(exc), False), *[gr.skip()] * len(docs_outputs))
        # Only files this app stored, and only when no remaining document still uses them.
        remaining = {d.path for d in library.documents()}
        for doc_id in ids:
            p = paths.get(doc_id)
            if p and p not in remaining and Path(p).resolve().parent == folder.resolve():
                Path(p).unlink(missing_ok=True)
        return (status(t["removed"].format(n=summary.removed), True), *docs_views(lang))

    # --- language ---------------------------------------------------------------------------

    def header_html(lang: str) -> str:
        t = TEXTS[lang]
        return f"<h1>{esc(t['title'])}</h1><p>{esc(t['subtitle'])}</p>"

    def relabel(lang: str, turns: list[dict[str, Any]] | None, show_all: bool) -> tuple[Any, ...]:
        t = TEXTS[lang]
        turns = turns or []
        return (
            header_html(lang),
            gr.Radio(label=t["language"]),
            gr.Tab(label=t["tab_chat"]),
            gr.Tab(label=t["tab_articles"]),
            gr.Chatbot(value=render_chat(turns, lang, show_all), label=t["chatbot"]),
            gr.Textbox(label=t["question"], placeholder=t["placeholder"]),
            gr.Button(value=t["send"]),
            gr.Button(value=t["new_chat"]),
            gr.Accordion(label=t["settings"]),
            gr.Dropdown(label=t["model"]),
            gr.Slider(label=t["k"]),
            gr.Checkbox(label=t["show_all"]),
            sources_html(turns, lang, show_all),
            gr.Markdown(value=f"### {t['docs']}"),
            gr.File(label=t["upload"].format(mb=f"{mb:g}")),
            gr.Button(value=t["add"]),
            gr.Button(value=t["remove"]),
            gr.Button(value=t["refresh"]),
        )

    with gr.Blocks(title="rag", analytics_enabled=False) as demo:
        turns_state = gr.State([])
        with gr.Row(equal_height=False):
            header = gr.HTML(header_html(lang), elem_id="rag-header", scale=4)
            lang_radio = gr.Radio(
                choices=list(LANGUAGES),
                value=lang,
                label=t0["language"],
                scale=1,
                elem_id="rag-lang",
            )
        with gr.Tabs():
            with (
                gr.Tab(t0["tab_chat"], id="chat", elem_id="rag-tab-chat") as tab_chat,
                gr.Row(equal_height=False),
            ):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label=t0["chatbot"],
                        elem_id="rag-chat",
                        height=440,
                        render_markdown=False,
                        sanitize_html=True,
                        latex_delimiters=[],
                        allow_tags=False,
                        feedback_options=None,
                        buttons=[],
                        placeholder=t0["chat_empty"],
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            label=t0["question"],
                            placeholder=t0["placeholder"],
                            scale=5,
                            lines=1,
                            max_lines=4,
                            elem_id="rag-question",
                            autofocus=True,
                        )
                        with gr.Column(scale=1, min_width=120):
                            send = gr.Button(t0["send"], variant="primary", elem_id="rag-send")
                            new_chat = gr.Button(t0["new_chat"], size="sm", elem_id="rag-new")
                    with gr.Column(visible=False, elem_id="rag-examples") as examples_box:
                        examples_label = gr.HTML("", js_on_load=None)
                        example_btns = [
                            gr.Button("", visible=False, size="sm", elem_classes=["rag-example"])
                            for _ in range(MAX_EXAMPLES)
                        ]
                    with gr.Accordion(
                        t0["settings"], open=False, elem_id="rag-settings"
                    ) as settings_box:
                        model_dd = gr.Dropdown(
                            choices=models,
                            value=settings.model,
                            label=t0["model"],
                            visible=settings.backend == "llama",
                            elem_id="rag-model",
                        )
                        k_slider = gr.Slider(
                            1,
                            10,
                            value=min(settings.k, 10),
                            step=1,
                            label=t0["k"],
                            elem_id="rag-k",
                        )
                        show_all = gr.Checkbox(
                            value=False, label=t0["show_all"], elem_id="rag-show-all"
                        )
                with gr.Column(scale=2):
                    sources = gr.HTML(
                        render_sources([], lang, False),
                        elem_id="rag-sources",
                        js_on_load=None,
                    )
            with gr.Tab(t0["tab_articles"], id="articles", elem_id="rag-tab-articles") as tab_docs:
                docs_title = gr.Markdown(f"### {t0['docs']}")
                docs_note = gr.HTML("", elem_id="rag-docs-note", js_on_load=None)
                docs_table = gr.Dataframe(
                    headers=[t0["col_title"], t0["col_date"], t0["col_chunks"], t0["col_id"]],
                    datatype=["str", "str", "number", "str"],
                    interactive=False,
                    wrap=True,
                    elem_id="rag-docs",
                )
                refresh = gr.Button(t0["refresh"], size="sm")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        upload = gr.File(
                            label=t0["upload"].format(mb=f"{mb:g}"),
                            file_count="multiple",
                            file_types=list(UPLOAD_SUFFIXES),
                            type="filepath",
                            elem_id="rag-upload",
                        )
                        add_btn = gr.Button(t0["add"], variant="primary", elem_id="rag-add")
                    with gr.Column():
                        remove_dd = gr.Dropdown(
                            choices=[],
                            multiselect=True,
                            label=t0["remove_pick"],
                            elem_id="rag-remove-pick",
                        )
                        remove_btn = gr.Button(t0["remove"], variant="stop", elem_id="rag-remove")
                docs_status = gr.HTML("", elem_id="rag-docs-status", js_on_load=None)

        chat_inputs = [question, turns_state, lang_radio, model_dd, k_slider, show_all]
        chat_outputs = [chatbot, sources, turns_state, question]
        chat_opts: dict[str, Any] = {
            "concurrency_id": "chat",
            "concurrency_limit": chat_concurrency,
            "show_progress": "minimal",
            "show_progress_on": [chatbot],
        }
        docs_outputs = [
            docs_table,
            remove_dd,
            examples_box,
            examples_label,
            *example_btns,
            docs_note,
            chatbot,
        ]

        # The person's question shows at once (not queued); the answer waits in the queue, and
        # the chat shows its place in it.
        answer_inputs = [turns_state, lang_radio, model_dd, k_slider, show_all]
        answer_events = [
            trigger(
                take_question,
                [source, turns_state, lang_radio, show_all],
                chat_outputs,
                api_visibility="private",
                queue=False,
            ).then(
                answer_queued,
                answer_inputs,
                [chatbot, sources, turns_state],
                api_visibility="private",
                **chat_opts,
            )
            for trigger, source in [
                (question.submit, question),
                (send.click, question),
                *[(btn.click, btn) for btn in example_btns],
            ]
        ]
        api_chat = gr.Button(visible=False)
        api_chat.click(respond, chat_inputs, chat_outputs, api_name="chat", **chat_opts)
        new_chat.click(
            lambda lang, show: ([], render_sources([], lang, show), [], ""),
            [lang_radio, show_all],
            [chatbot, sources, turns_state, question],
            cancels=answer_events,
            api_visibility="private",
            queue=False,
        )
        chatbot.clear(
            lambda lang, show: (render_sources([], lang, show), []),
            [lang_radio, show_all],
            [sources, turns_state],
            cancels=answer_events,
            api_visibility="private",
            queue=False,
        )
        show_all.change(
            lambda turns, lang, show: (
                render_chat(turns or [], lang, show),
                sources_html(turns or [], lang, show),
            ),
            [turns_state, lang_radio, show_all],
            [chatbot, sources],
            api_visibility="private",
            queue=False,
        )
        lang_radio.change(
            relabel,
            [lang_radio, turns_state, show_all],
            [
                header,
                lang_radio,
                tab_chat,
                tab_docs,
                chatbot,
                question,
                send,
                new_chat,
                settings_box,
                model_dd,
                k_slider,
                show_all,
                sources,
                docs_title,
                upload,
                add_btn,
                remove_btn,
                refresh,
            ],
            api_visibility="private",
            queue=False,
        ).then(docs_views, [lang_radio], docs_outputs, api_visibility="private")
        demo.load(docs_views, [lang_radio], docs_outputs, api_visibility="private")
        refresh.click(docs_views, [lang_radio], docs_outputs, api_visibility="private")
        add_btn.click(
            add_files,
            [upload, lang_radio],
            [docs_status, *docs_outputs, upload],
            api_name="add_articles",
            concurrency_id="index-write",
            concurrency_limit=1,
        )
        remove_btn.click(
            remove_docs,
            [remove_dd, lang_radio],
            [docs_status, *docs_outputs],
            api_name="remove_articles",
            concurrency_id="index-write",
            concurrency_limit=1,
        )
        gr.api(api_ask, api_name="ask", concurrency_id="chat", concurrency_limit=chat_concurrency)

    demo.queue(default_concurrency_limit=chat_concurrency, max_size=queue_size)
    demo.rag_max_upload_bytes = max_bytes  # type: ignore[attr-defined]
    return demo


def serve(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> str:
    """Start ``demo`` (from :func:`build_app`) on ``host:port`` (a free port when None) with the
    app's styles and script; returns its URL."""
    import gradio as gr

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if port is None:
        port = free_port(host)
    max_bytes = getattr(demo, "rag_max_upload_bytes", int(DEFAULT_MAX_UPLOAD_MB * 1e6))
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=False,
        ssr_mode=False,
        footer_links=["api"],
        max_file_size=max_bytes,
        theme=gr.themes.Default(),
        css=CSS,
        js=JS,
    )
    return url


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def launch(settings: Settings, **build_kwargs: Any) -> None:
    """Serve the app on ``settings.host:settings.port`` until interrupted (``rag serve``)."""
    serve(build_app(settings, **build_kwargs), settings.host, settings.port)


if __name__ == "__main__":
    from rag.settings import get_settings

    launch(get_settings())
