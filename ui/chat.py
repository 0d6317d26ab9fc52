"""The chat tab: the conversation, the question box, example questions, per-person settings
(model, k, show all passages) and the sources panel; and the ``/chat`` and ``/ask`` API.

Answers come from the ``ask`` function it is given (``rag.answer.ask_stream``); this module
only keeps each session's turns and renders them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag import conversation
from rag.library import Library
from rag.models.catalog import BUILTIN_MODELS
from rag.settings import Settings
from ui.examples import MAX_EXAMPLES, example_questions
from ui.render import note_html, render_chat, render_sources
from ui.texts import TEXTS, texts
from ui.turn import AskFn, Status, Turn, history, kept, next_id, restored, stream_turn

Updates = tuple[Any, ...]
_PRIVATE: dict[str, Any] = {"api_visibility": "private", "queue": False}
_NO_EXPORT = gr.DownloadButton(value=None, visible=False)


class ChatTab:
    """Builds the chat tab inside an open ``gr.Blocks`` and wires its events."""

    def __init__(
        self, settings: Settings, ask: AskFn, library: Library, *, concurrency: int = 1
    ) -> None:
        self.settings = settings
        self.ask = ask
        self.library = library
        self.concurrency = concurrency
        self._base = settings.model_dump()
        self._exports = Path(tempfile.gettempdir()) / f"rag-exports-{os.getpid()}"
        self.models = list(BUILTIN_MODELS)  # the catalog: default first, then the small one
        if settings.model not in self.models:
            self.models.insert(0, settings.model)

    # --- layout ------------------------------------------------------------------------------

    def build(self, lang: str) -> gr.Tab:
        """Lay the tab out (inside ``gr.Tabs``); returns it."""
        t = texts(lang)
        with (
            gr.Tab(t["tab_chat"], id="chat", elem_id="rag-tab-chat") as self.tab,
            gr.Row(equal_height=False),
        ):
            # Inside the tab: a State directly under gr.Tabs shifts the tab labels.
            self.turns = gr.State([])
            # The finished answers, kept in the browser so a reload (or a restart of the
            # server over the same index) shows the conversation again.
            secret = hashlib.sha256(str(Path(self.settings.index_dir).resolve()).encode())
            self.saved = gr.BrowserState(
                [], storage_key="rag-conversation", secret=secret.hexdigest()[:32]
            )
            with gr.Column(scale=3):
                self._build_conversation(t)
                self._build_examples()
                self._build_settings(t)
            with gr.Column(scale=2):
                self.sources = gr.HTML(
                    render_sources([], lang, False), elem_id="rag-sources", js_on_load=None
                )
        return self.tab

    def _build_conversation(self, t: dict[str, str]) -> None:
        self.chatbot = gr.Chatbot(
            label=t["chatbot"],
            elem_id="rag-chat",
            height=440,
            render_markdown=False,
            sanitize_html=True,
            latex_delimiters=[],
            allow_tags=False,
            feedback_options=None,
            buttons=[],
            placeholder=t["chat_empty"],
        )
        with gr.Row():
            self.question = gr.Textbox(
                label=t["question"],
                placeholder=t["placeholder"],
                scale=5,
                lines=1,
                max_lines=4,
                elem_id="rag-question",
                autofocus=True,
            )
            with gr.Column(scale=1, min_width=120):
                self.send = gr.Button(t["send"], variant="primary", elem_id="rag-send")
                self.new_chat = gr.Button(t["new_chat"], size="sm", elem_id="rag-new")
                self.export = gr.DownloadButton(
                    t["export"], value=None, size="sm", visible=False, elem_id="rag-export"
                )

    def _build_examples(self) -> None:
        with gr.Column(visible=False, elem_id="rag-examples") as self.examples_box:
            self.examples_label = gr.HTML("", js_on_load=None)
            self.example_btns = [
                gr.Button("", visible=False, size="sm", elem_classes=["rag-example"])
                for _ in range(MAX_EXAMPLES)
            ]

    def _build_settings(self, t: dict[str, str]) -> None:
        with gr.Accordion(t["settings"], open=False, elem_id="rag-settings") as self.settings_box:
            self.model = gr.Dropdown(
                choices=self.models,
                value=self.settings.model,
                label=t["model"],
                visible=self.settings.backend == "llama",
                elem_id="rag-model",
            )
            self.k = gr.Slider(
                1, 10, value=min(self.settings.k, 10), step=1, label=t["k"], elem_id="rag-k"
            )
            self.show_all = gr.Checkbox(value=False, label=t["show_all"], elem_id="rag-show-all")

    # --- events ------------------------------------------------------------------------------

    def wire(self, lang: gr.Radio) -> None:
        """Connect the tab's events; ``lang`` is the page's language choice."""
        chat_outputs = [self.chatbot, self.sources, self.turns, self.question]
        opts: dict[str, Any] = {
            "concurrency_id": "chat",
            "concurrency_limit": self.concurrency,
            "show_progress": "minimal",
            "show_progress_on": [self.chatbot],
        }
        # The person's question shows at once (not queued); the answer waits in the queue, and
        # the chat shows its place in it.
        answer_inputs = [self.turns, lang, self.model, self.k, self.show_all]
        triggers = [(self.question.submit, self.question), (self.send.click, self.question)]
        triggers += [(btn.click, btn) for btn in self.example_btns]
        answering = [
            trigger(
                self.take_question,
                [source, self.turns, lang, self.show_all],
                chat_outputs,
                api_visibility="private",
                queue=False,
            ).then(
                self.answer_queued,
                answer_inputs,
                [self.chatbot, self.sources, self.turns],
                api_visibility="private",
                **opts,
            )
            for trigger, source in triggers
        ]
        for answered in answering:
            answered.then(self.keep, [self.turns], [self.saved, self.export], **_PRIVATE)
        api_chat = gr.Button(visible=False)
        api_chat.click(
            self.respond, [self.question, *answer_inputs], chat_outputs, api_name="chat", **opts
        )
        self._wire_views(lang, answering)
        gr.api(
            self.api_function(),
            api_name="ask",
            concurrency_id="chat",
            concurrency_limit=self.concurrency,
        )

    def _wire_views(self, lang: gr.Radio, answering: list[Any]) -> None:
        self.new_chat.click(
            lambda lang, show: ([], render_sources([], lang, show), [], "", [], _NO_EXPORT),
            [lang, self.show_all],
            [self.chatbot, self.sources, self.turns, self.question, self.saved, self.export],
            cancels=answering,
            **_PRIVATE,
        )
        self.chatbot.clear(
            lambda lang, show: (render_sources([], lang, show), [], [], _NO_EXPORT),
            [lang, self.show_all],
            [self.sources, self.turns, self.saved, self.export],
            cancels=answering,
            **_PRIVATE,
        )
        self.show_all.change(
            lambda turns, lang, show: self.views(turns or [], lang, show),
            [self.turns, lang, self.show_all],
            [self.chatbot, self.sources],
            **_PRIVATE,
        )

    def wire_restore(self, demo: gr.Blocks, lang: gr.Radio) -> None:
        """Show the conversation kept in the browser when the page loads."""
        demo.load(
            self.restore,
            [self.saved, lang, self.show_all],
            [self.chatbot, self.sources, self.turns, self.export],
            **_PRIVATE,
        )

    # --- handlers ----------------------------------------------------------------------------

    def keep(self, turns: list[Turn] | None) -> Updates:
        """Keep the finished answers in the browser and offer them as a Markdown file."""
        answers = kept(turns or [])
        if not answers:
            return [], _NO_EXPORT
        markdown = conversation.to_markdown(answers)
        name = hashlib.sha256(markdown.encode()).hexdigest()[:16]
        path = self._exports / name / "conversation.md"  # named by content: sessions never clash
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(markdown, encoding="utf-8")
            _forget_old(self._exports, max_age_s=3600)
        return [a.to_dict() for a in answers], gr.DownloadButton(value=str(path), visible=True)

    def restore(self, saved: list[dict[str, Any]] | None, lang: str, show_all: bool) -> Updates:
        """The chat, sources, turns and export button for a kept conversation (one that does
        not read back is dropped)."""
        try:
            answers = [conversation.answer_from_dict(a) for a in saved or []]
        except (TypeError, ValueError, AttributeError):
            answers = []
        turns = restored(answers)
        if not turns:
            return gr.skip(), gr.skip(), [], _NO_EXPORT
        return *self.views(turns, lang, show_all), turns, self.keep(turns)[1]

    def views(self, turns: list[Turn], lang: str, show_all: bool) -> tuple[Any, str]:
        """The chat messages and the sources panel for ``turns``."""
        panel = render_sources(turns, lang, show_all, self.library.document_text)
        return render_chat(turns, lang, show_all), panel

    def take_question(
        self, question: str, turns: list[Turn] | None, lang: str, show_all: bool
    ) -> Updates:
        """Show the question at once (not queued), marked as waiting for its answer."""
        question = (question or "").strip()
        turns = list(turns or [])
        if not question:
            gr.Info(texts(lang)["empty_question"])
            return gr.skip(), gr.skip(), turns, gr.skip()
        turns.append(Turn(next_id(turns), question, Status.QUEUED))
        return *self.views(turns, lang, show_all), turns, ""

    def answer_queued(
        self, turns: list[Turn] | None, lang: str, model: str, k: float, show_all: bool
    ) -> Iterator[Updates]:
        """Answer the oldest waiting question of this session, streaming into the chat."""
        turns = list(turns or [])
        turn = next((x for x in turns if x.status is Status.QUEUED), None)
        if turn is None:
            yield gr.skip(), gr.skip(), turns
            return
        past = history(turns[: turns.index(turn)])
        turn.status = Status.SEARCHING
        yield *self.views(turns, lang, show_all), turns
        for kind in stream_turn(turn, self.ask, past, self.overrides(model, k)):
            if kind == "text":  # the passages do not change while the answer streams
                yield render_chat(turns, lang, show_all), gr.skip(), turns
            else:
                yield *self.views(turns, lang, show_all), turns

    def respond(
        self,
        question: str,
        turns: list[Turn] | None,
        lang: str,
        model: str,
        k: float,
        show_all: bool,
    ) -> Iterator[Updates]:
        """Both steps in one event: the ``/chat`` API endpoint."""
        first = self.take_question(question, turns, lang, show_all)
        yield first
        if (question or "").strip():
            for chat, panel, now in self.answer_queued(first[2], lang, model, k, show_all):
                yield chat, panel, now, gr.skip()

    def overrides(self, model: str | None, k: float | None) -> dict[str, Any]:
        """The app's settings with this person's model and k."""
        given = dict(self._base)
        if model:
            given["model"] = model
        if k:
            given["k"] = int(k)
        return given

    def api_function(self) -> Any:
        """The ``/ask`` endpoint: its defaults are this app's model and k."""
        settings = self.settings

        def api_ask(
            question: str, model: str = settings.model, k: int = settings.k
        ) -> dict[str, Any]:
            """Answer ``question`` from the indexed articles: what ``rag ask --json`` prints
            (text with [n] citations, the citations with their quoted spans, the passages
            given to the model, timings)."""
            turn = Turn(1, (question or "").strip())
            if not turn.question:
                raise gr.Error("the question is empty; type a question")
            for _ in stream_turn(turn, self.ask, [], self.overrides(model, k)):
                pass
            if turn.status is Status.ERROR:
                raise gr.Error(turn.error or TEXTS["en"]["unexpected"].format(kind=turn.crash))
            return turn.to_answer().to_dict()

        return api_ask

    # --- language and library ----------------------------------------------------------------

    def relabel_outputs(self) -> list[Any]:
        """The components :meth:`relabel` updates, in its order."""
        return [
            self.tab,
            self.chatbot,
            self.question,
            self.send,
            self.new_chat,
            self.settings_box,
            self.model,
            self.k,
            self.show_all,
            self.sources,
        ]

    def relabel(self, lang: str, turns: list[Turn] | None, show_all: bool) -> Updates:
        """Every label of the tab in ``lang``; the conversation re-rendered in it."""
        t = texts(lang)
        chat, panel = self.views(turns or [], lang, show_all)
        return (
            gr.Tab(label=t["tab_chat"]),
            gr.Chatbot(value=chat, label=t["chatbot"]),
            gr.Textbox(label=t["question"], placeholder=t["placeholder"]),
            gr.Button(value=t["send"]),
            gr.Button(value=t["new_chat"]),
            gr.Accordion(label=t["settings"]),
            gr.Dropdown(label=t["model"]),
            gr.Slider(label=t["k"]),
            gr.Checkbox(label=t["show_all"]),
            panel,
        )

    def examples_outputs(self) -> list[Any]:
        """The components :meth:`examples_view` updates, in its order."""
        return [self.examples_box, self.examples_label, *self.example_btns]

    def examples_view(self, lang: str) -> Updates:
        """The example questions for the current index (hidden when there are none)."""
        examples = example_questions(self.library, lang)
        buttons = [
            gr.Button(value=examples[i], visible=True)
            if i < len(examples)
            else gr.Button(visible=False)
            for i in range(MAX_EXAMPLES)
        ]
        label = note_html(texts(lang)["examples"])
        return gr.Column(visible=bool(examples)), label, *buttons

    def placeholder_view(self, lang: str, has_documents: bool) -> Any:
        """The empty chat's hint: ask something, or add articles first."""
        t = texts(lang)
        return gr.Chatbot(placeholder=t["chat_empty"] if has_documents else t["no_index"])


def _forget_old(folder: Path, max_age_s: float) -> None:
    """Delete exports older than ``max_age_s`` (the browser downloaded them long ago)."""
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
