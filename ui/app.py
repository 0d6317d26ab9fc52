"""The Gradio app: a chat tab with streamed, cited answers and highlighted sources, and an
articles tab to list, add and remove indexed documents, under one language choice.

A thin layer: answers come from ``rag.answer.ask_stream``, documents from
``rag.library.Library``. This module only composes the tabs (:mod:`ui.chat`,
:mod:`ui.articles`) and serves them with the styles and script in ``ui/static``.
"""

from __future__ import annotations

import os
import socket
from importlib import resources
from typing import TYPE_CHECKING, Any

from ui.texts import DEFAULT_LANG, LANGUAGES, TEXTS, texts
from ui.turn import AskFn, Turn
from ui.uploads import DEFAULT_MAX_UPLOAD_MB

if TYPE_CHECKING:
    import gradio as gr

    from rag.settings import Settings
    from ui.articles import ArticlesTab
    from ui.chat import ChatTab


def static_text(name: str) -> str:
    """The content of ``ui/static/<name>`` (installed with the package)."""
    return resources.files("ui").joinpath("static", name).read_text(encoding="utf-8")


def _default_ask() -> AskFn:
    from rag.answer import ask_stream

    return ask_stream


def build_app(
    settings: Settings,
    ask_fn: AskFn | None = None,
    *,
    lang: str = DEFAULT_LANG,
    max_upload_mb: float | None = None,
    chat_concurrency: int = 1,
    queue_size: int | None = None,
) -> gr.Blocks:
    """The Gradio app over the index in ``settings``.

    ``ask_fn`` defaults to ``rag.answer.ask_stream`` (same signature; tests pass a fake).
    ``chat_concurrency`` answers run at once (the rest wait in the queue and see their place);
    ``max_upload_mb`` caps each uploaded file (default ``settings.max_upload_mb`` if present,
    else 10 MB). ``queue_size`` questions may wait (default ``settings.queue_size``); the
    access rules come from ``settings`` (:class:`rag.access.Policy`).
    """
    import gradio as gr

    from rag.access import Gate, Policy
    from rag.library import Library
    from ui.articles import ArticlesTab
    from ui.chat import ChatTab

    library = Library(settings)
    mb = max_upload_mb or float(getattr(settings, "max_upload_mb", DEFAULT_MAX_UPLOAD_MB))
    max_bytes = int(mb * 1e6)
    lang = lang if lang in TEXTS else DEFAULT_LANG
    policy = Policy.from_settings(settings)
    queue_size = queue_size or settings.queue_size
    ask = ask_fn or _default_ask()
    chat = ChatTab(settings, ask, library, concurrency=chat_concurrency)
    articles = ArticlesTab(library, max_bytes, policy)
    with gr.Blocks(title="rag", analytics_enabled=False) as demo:
        _compose(demo, chat, articles, lang)
    demo.queue(default_concurrency_limit=chat_concurrency, max_size=queue_size)
    # Gradio takes these at launch, and the API is mounted then: kept on the app for serve().
    demo.rag_settings = settings  # type: ignore[attr-defined]
    demo.rag_policy = policy  # type: ignore[attr-defined]
    demo.rag_ask = ask  # type: ignore[attr-defined]
    demo.rag_gate = Gate(queue_size + chat_concurrency)  # type: ignore[attr-defined]
    demo.rag_max_upload_bytes = max_bytes  # type: ignore[attr-defined]
    demo.rag_css = static_text("app.css")  # type: ignore[attr-defined]
    demo.rag_js = static_text("app.js")  # type: ignore[attr-defined]
    return demo


def _compose(demo: gr.Blocks, chat: ChatTab, articles: ArticlesTab, lang: str) -> None:
    """Inside an open ``gr.Blocks``: the header with the language choice, the two tabs, and
    the events that span both (relabelling, the views that follow the index)."""
    import gradio as gr

    from ui.render import header_html

    with gr.Row(equal_height=False):
        header = gr.HTML(header_html(lang), elem_id="rag-header", scale=4)
        choice = gr.Radio(
            choices=list(LANGUAGES),
            value=lang,
            label=texts(lang)["language"],
            scale=1,
            elem_id="rag-lang",
        )
    with gr.Tabs():
        chat.build(lang)
        articles.build(lang)
    # What follows the index: the articles tab's table, picker and note, the examples under
    # the chat and the chat's hint (this order is the add/remove API's output).
    library_outputs = [
        articles.table,
        articles.remove_pick,
        *chat.examples_outputs(),
        articles.note,
        chat.chatbot,
    ]

    def library_views(lang: str) -> tuple[Any, ...]:
        table, picker, note = articles.views(lang)
        hint = chat.placeholder_view(lang, bool(articles.library.documents()))
        return table, picker, *chat.examples_view(lang), note, hint

    def relabel(lang: str, turns: list[Turn] | None, show_all: bool) -> tuple[Any, ...]:
        return (
            header_html(lang),
            gr.Radio(label=texts(lang)["language"]),
            *chat.relabel(lang, turns, show_all),
            *articles.relabel(lang),
        )

    chat.wire(choice)
    articles.wire(choice, library_outputs, library_views)
    choice.change(
        relabel,
        [choice, chat.turns, chat.show_all],
        [header, choice, *chat.relabel_outputs(), *articles.relabel_outputs()],
        api_visibility="private",
        queue=False,
    ).then(library_views, [choice], library_outputs, api_visibility="private")
    demo.load(library_views, [choice], library_outputs, api_visibility="private")
    chat.wire_restore(demo, choice)


def serve(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> str:
    """Start ``demo`` (from :func:`build_app`) on ``host:port`` (a free port when None) with the
    app's styles and script and the OpenAI-compatible API (:mod:`rag.api`) beside it; returns
    its URL. Refuses a public address where anyone could change the articles."""
    import gradio as gr

    from rag.access import Policy
    from rag.api import ChatService, create_router

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = demo.rag_settings.merged(host=host)  # type: ignore[attr-defined]
    policy = Policy.from_settings(settings)
    policy.check_start(host)
    if policy != demo.rag_policy:  # type: ignore[attr-defined]
        raise ValueError(f"build the app with the host it serves on ({host})")
    if port is None:
        port = free_port(host)
    max_bytes = getattr(demo, "rag_max_upload_bytes", int(DEFAULT_MAX_UPLOAD_MB * 1e6))
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=quiet,
        auth=policy.login if policy.ask_required else None,
        auth_message="Sign in with the ask token (any user name).",
        show_error=False,
        ssr_mode=False,
        footer_links=["api"],
        max_file_size=max_bytes,
        theme=gr.themes.Default(),
        css=getattr(demo, "rag_css", None) or static_text("app.css"),
        js=getattr(demo, "rag_js", None) or static_text("app.js"),
    )
    service = ChatService(settings, demo.rag_ask, policy, demo.rag_gate)  # type: ignore[attr-defined]
    demo.app.include_router(create_router(service))
    if not quiet:
        print(f"OpenAI-compatible API on {url.rstrip('/')}/v1", flush=True)
    if not prevent_thread_lock:
        demo.block_thread()
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
