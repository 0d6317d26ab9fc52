"""The articles tab: the indexed documents, adding files or a web page's link and removing
documents; and the ``/add_articles``, ``/add_link`` and ``/remove_articles`` API.

The documents come from :class:`rag.library.Library`; uploads are checked and stored by
:mod:`ui.uploads` and undone when indexing them fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.access import Policy, RateLimit
from rag.documents.fetch import is_url
from rag.errors import AccessError, BusyError, RagError
from rag.library import Library
from ui.render import note_html, status_html
from ui.texts import texts
from ui.uploads import UPLOAD_SUFFIXES, discard_unused, first_problem, store_uploads, upload_dir

if TYPE_CHECKING:
    from rag.store.base import DocInfo

log = logging.getLogger(__name__)

Updates = tuple[Any, ...]
SUMMARY_FIELDS = ("added", "updated", "unchanged", "documents", "chunks")
_PROGRESS = gr.Progress()  # gradio finds the progress parameter by this default


class ArticlesTab:
    """Builds the articles tab inside an open ``gr.Blocks`` and wires its events.

    Adding or removing articles also refreshes views outside the tab (the example questions,
    the chat's hint): ``wire`` takes those components and the function that renders them.
    """

    def __init__(self, library: Library, max_bytes: int, policy: Policy | None = None) -> None:
        self.library = library
        self.settings = library.settings
        self.max_bytes = max_bytes
        self.max_total_bytes = int(self.settings.max_upload_total_mb * 1e6)
        self.policy = policy or Policy()
        self.rate = RateLimit(self.settings.uploads_per_minute)

    @property
    def upload_label_mb(self) -> str:
        """The per-file limit in MB as shown in the upload label."""
        return f"{self.max_bytes / 1e6:g}"

    def build(self, lang: str) -> gr.Tab:
        """Lay the tab out (inside ``gr.Tabs``); returns it."""
        t = texts(lang)
        with gr.Tab(t["tab_articles"], id="articles", elem_id="rag-tab-articles") as self.tab:
            self.title = gr.Markdown(f"### {t['docs']}")
            self.note = gr.HTML("", elem_id="rag-docs-note", js_on_load=None)
            self.table = gr.Dataframe(
                headers=self._headers(t),
                datatype=["str", "str", "number", "str"],
                interactive=False,
                wrap=True,
                elem_id="rag-docs",
            )
            self.refresh = gr.Button(t["refresh"], size="sm")
            with gr.Row(equal_height=False):
                with gr.Column():
                    self.upload = gr.File(
                        label=t["upload"].format(mb=self.upload_label_mb),
                        file_count="multiple",
                        file_types=list(UPLOAD_SUFFIXES),
                        type="filepath",
                        elem_id="rag-upload",
                    )
                    self.add = gr.Button(t["add"], variant="primary", elem_id="rag-add")
                    self.link = gr.Textbox(
                        label=t["link"],
                        placeholder=t["link_placeholder"],
                        max_lines=1,
                        elem_id="rag-link",
                    )
                    self.add_link = gr.Button(t["add_link"], elem_id="rag-add-link")
                with gr.Column():
                    self.remove_pick = gr.Dropdown(
                        choices=[],
                        multiselect=True,
                        label=t["remove_pick"],
                        elem_id="rag-remove-pick",
                    )
                    self.remove = gr.Button(t["remove"], variant="stop", elem_id="rag-remove")
            self.token = gr.Textbox(
                label=t["admin_token"],
                type="password",
                visible=self.policy.admin_required,
                elem_id="rag-admin-token",
            )
            self.status = gr.HTML("", elem_id="rag-docs-status", js_on_load=None)
        return self.tab

    @staticmethod
    def _headers(t: dict[str, str]) -> list[str]:
        return [t["col_title"], t["col_date"], t["col_chunks"], t["col_id"], t["col_note"]]

    def wire(self, lang: gr.Radio, outputs: list[Any], views: Callable[[str], Updates]) -> None:
        """Connect the tab's events. ``views(lang)`` renders ``outputs`` (this tab's table,
        picker and note among them) after every change to the index."""
        self._views = views
        self._count = len(outputs)
        self.refresh.click(views, [lang], outputs, api_visibility="private")
        writes: dict[str, Any] = {"concurrency_id": "index-write", "concurrency_limit": 1}
        self.add.click(
            self.add_files,
            [self.upload, lang, self.token],
            [self.status, *outputs, self.upload],
            api_name="add_articles",
            **writes,
        )
        self.add_link.click(
            self.add_url,
            [self.link, lang, self.token],
            [self.status, *outputs, self.link],
            api_name="add_link",
            **writes,
        )
        self.remove.click(
            self.remove_docs,
            [self.remove_pick, lang, self.token],
            [self.status, *outputs],
            api_name="remove_articles",
            **writes,
        )

    # --- views -------------------------------------------------------------------------------

    def views(self, lang: str) -> tuple[Any, Any, str]:
        """The table of documents, the removal picker and the note above the table."""
        import pandas as pd

        t = texts(lang)
        index, error = self.library.snapshot()
        docs = self.library.documents() if index is not None else []
        rows = [[d.title, d.date or "", d.chunks, d.id, _note(d, t)] for d in docs]
        headers = self._headers(t)
        if error and not self.library.has_index:
            note = t["no_index"]
        else:
            note = error or t["docs_count"].format(n=len(docs))
            if not error and (flagged := sum(d.instructions > 0 for d in docs)):
                note += t["docs_instructing"].format(n=flagged)
        choices = [(f"{d.title} — {d.id}", d.id) for d in docs]
        return (
            gr.Dataframe(value=pd.DataFrame(rows, columns=headers), headers=headers),
            gr.Dropdown(choices=choices, value=[], label=t["remove_pick"]),
            note_html(note),
        )

    def relabel_outputs(self) -> list[Any]:
        """The components :meth:`relabel` updates, in its order."""
        return [
            *(self.tab, self.title, self.upload, self.add, self.remove, self.refresh),
            *(self.link, self.add_link),
        ]

    def relabel(self, lang: str) -> Updates:
        """Every fixed label of the tab in ``lang`` (the table follows in :meth:`views`)."""
        t = texts(lang)
        return (
            gr.Tab(label=t["tab_articles"]),
            gr.Markdown(value=f"### {t['docs']}"),
            gr.File(label=t["upload"].format(mb=self.upload_label_mb)),
            gr.Button(value=t["add"]),
            gr.Button(value=t["remove"]),
            gr.Button(value=t["refresh"]),
            gr.Textbox(label=t["link"], placeholder=t["link_placeholder"]),
            gr.Button(value=t["add_link"]),
        )

    # --- handlers ----------------------------------------------------------------------------

    def _refused(self, message: str, extra: int = 0) -> Updates:
        """A failure line; nothing else on the page changes."""
        return (status_html(message, False), *[gr.skip()] * (self._count + extra))

    def allowed(self, token: str | None, request: gr.Request | None = None) -> None:
        """Raise unless this client may change the articles now (admin token, uploads a
        minute)."""
        client = getattr(getattr(request, "client", None), "host", None) or "local"
        self.rate.check(client)  # first: wrong tokens count too, so guessing is slow
        self.policy.check_admin(token)

    def add_files(
        self,
        files: list[str] | None,
        lang: str,
        token: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]  # gradio passes it
        progress: gr.Progress = _PROGRESS,
    ) -> Updates:
        """Check, store and index the uploaded ``files``; on any failure nothing changes."""
        t = texts(lang)
        if not files:
            return self._refused(t["pick_files"], extra=1)
        try:
            self.allowed(token, request)
        except (AccessError, BusyError) as exc:
            return self._refused(f"{exc} {t['unchanged_note']}", extra=1)
        items = [(Path(f), Path(f).name) for f in files]
        problem = first_problem(items, self.max_bytes, self.max_total_bytes)
        if problem is not None:
            key, fields = problem
            return self._refused(f"{t[key].format(**fields)} {t['unchanged_note']}", extra=1)

        with self.library.write_lock:
            try:
                stored, undo = store_uploads(items, upload_dir(self.settings))
            except OSError as exc:
                why = t["cannot_store"].format(reason=exc.strerror or type(exc).__name__)
                return self._refused(f"{why} {t['unchanged_note']}", extra=1)
            try:
                progress(0, desc=t["stage"])
                summary = self.library.add(stored, progress=_reporter(progress, t))
            except RagError as exc:
                undo()
                return self._refused(f"{exc} {t['unchanged_note']}", extra=1)
            except Exception as exc:
                undo()
                log.exception("ingesting uploads failed")
                crash = t["unexpected"].format(kind=type(exc).__name__)
                return self._refused(f"{crash} {t['unchanged_note']}", extra=1)
        counts = {k: getattr(summary, k, 0) for k in SUMMARY_FIELDS}
        return status_html(t["added"].format(**counts), True), *self._views(lang), None

    def add_url(
        self,
        url: str | None,
        lang: str,
        token: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]  # gradio passes it
        progress: gr.Progress = _PROGRESS,
    ) -> Updates:
        """Fetch the web page (or PDF) at ``url`` and index it under its link; on any failure
        (a 404, a page too big, not a web page, ...) one line, and nothing changes."""
        t = texts(lang)
        url = (url or "").strip()
        if not is_url(url):
            return self._refused(t["pick_link"], extra=1)
        try:
            self.allowed(token, request)
        except (AccessError, BusyError) as exc:
            return self._refused(f"{exc} {t['unchanged_note']}", extra=1)
        try:
            progress(0, desc=t["stage"])
            summary = self.library.add([url], progress=_reporter(progress, t))
        except RagError as exc:
            return self._refused(f"{exc} {t['unchanged_note']}", extra=1)
        except Exception as exc:
            log.exception("ingesting a link failed")
            crash = t["unexpected"].format(kind=type(exc).__name__)
            return self._refused(f"{crash} {t['unchanged_note']}", extra=1)
        counts = {k: getattr(summary, k, 0) for k in SUMMARY_FIELDS}
        return status_html(t["added"].format(**counts), True), *self._views(lang), ""

    def remove_docs(self, ids: list[str] | None, lang: str, token: str | None = None) -> Updates:
        """Remove the documents ``ids``, and the uploaded files only they came from."""
        t = texts(lang)
        if not ids:
            return self._refused(t["pick_docs"])
        try:
            self.policy.check_admin(token)
            summary, unused = self.library.remove(ids)
        except RagError as exc:
            return self._refused(str(exc))
        try:
            discard_unused(unused, upload_dir(self.settings))
        except OSError:  # the articles are removed; a stale upload copy only takes space
            log.warning("could not delete the uploaded copies of %s", ids, exc_info=True)
        message = t["removed"].format(n=summary.removed)
        return status_html(message, True), *self._views(lang)


def _note(doc: DocInfo, t: dict[str, str]) -> str:
    """The table's note on ``doc``: whether it carries sentences that speak to the assistant."""
    return t["instructs"].format(n=doc.instructions) if doc.instructions else ""


def _reporter(progress: gr.Progress, t: dict[str, str]) -> Callable[[int, int, str], None]:
    """Ingest's ``progress(done, total, stage)`` shown on the page's progress bar."""

    def report(done: int, total: int, stage: str) -> None:
        if total:
            progress((done, total), desc=f"{t['stage']}: {stage}")

    return report
