"""The web app in a real headless Chromium (Playwright, Debian's /usr/bin/chromium).

The interaction tests use real retrieval over a real index with a scripted generator (so the
answers are predictable and quick); one test asks the real model (qwen2.5-coder-0.5b unless
RAG_TEST_UI_MODEL names another, picked in the settings panel like a person would) and takes the
README screenshot, docs/screenshot.png (written when missing or with the default model, so a run
with the small model does not replace the README's picture).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian chromium at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from rag.settings import Settings, get_settings  # noqa: E402
from tests.fakes import quoting_ask  # noqa: E402
from ui import app as ui  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SCREENSHOT = ROOT / "docs" / "screenshot.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The model picked in the settings panel for the real question (the README screenshot was made
# with RAG_TEST_UI_MODEL=qwen2.5-coder-1.5b, the default model).
REAL_MODEL = os.environ.get("RAG_TEST_UI_MODEL", "qwen2.5-coder-0.5b")
README_MODEL = "qwen2.5-coder-1.5b"
Q_ALIANSI = "Negara apa saja yang menjadi anggota Aliansi Pasifik?"
Q_HOTEL = (
    "Di hotel mana Simposium Nasional Migration Governance for Sustainable Development diadakan?"
)
Q_INFID = "Siapa yang mewakili INFID dalam penandatanganan kerja sama dengan Komnas Perempuan?"
EVIL = (
    "Peluncuran Satelit Nusantara Lima <script>window.__pwned=1</script>\n"
    "![x](http://example.invalid/x.png) Satelit Nusantara Lima diluncurkan dari Florida pada "
    '2024 dan membawa <img src="http://example.invalid/y.png" onerror="window.__pwned=2"> '
    "160 transponder. [link](http://example.invalid/) ${window.__pwned=3}\n"
)


# Real retrieval, scripted generation; the pause stands for the model reading the prompt.
retrieval_ask = quoting_ask(read_s=1.5, piece=16, delay=0.02)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from rag.ingest import ingest

    settings = get_settings(index_dir=tmp_path_factory.mktemp("browser") / "index")
    ingest([SEEDS], settings)
    return settings


def _serve(settings: Settings, **kwargs: Any) -> tuple[Any, str]:
    demo = ui.build_app(settings, **kwargs)
    return demo, ui.serve(demo, "127.0.0.1", None, prevent_thread_lock=True, quiet=True)


@pytest.fixture(scope="module")
def scripted_url(settings: Settings) -> Iterator[str]:
    demo, url = _serve(settings, ask_fn=retrieval_ask)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A page that remembers every request it made."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 760})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = url
        self.page.goto(url)
        self.page.wait_for_selector("#rag-question textarea")

    def foreign_requests(self) -> list[str]:
        own = urlparse(self.url).netloc
        return [
            u
            for u in self.requests
            if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).netloc != own
        ]

    def ask(self, question: str) -> None:
        """Type ``question`` and press Enter until the app takes it (it clears the box); an
        Enter pressed while the previous answer is still closing is ignored by design."""
        box = self.page.locator("#rag-question textarea")
        box.fill(question)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            box.press("Enter")
            for _ in range(20):
                if box.input_value() == "":
                    return
                time.sleep(0.1)
        raise AssertionError(f"the app did not take the question {question!r}")

    def wait_answer(self, turns: int, timeout_s: float = 60) -> Any:
        """Wait until the chat shows ``turns`` finished answers; returns the last bubble."""
        self.page.wait_for_function(
            """(n) => {
                const done = document.querySelectorAll(
                    '#rag-chat .rag-answer:not(.rag-streaming), #rag-chat .rag-refusal, '
                    + '#rag-chat .rag-error');
                return done.length >= n && !document.querySelector(
                    '#rag-chat .rag-pending, #rag-chat .rag-streaming');
            }""",
            arg=turns,
            timeout=timeout_s * 1000,
        )
        bubbles = self.page.locator("#rag-chat .rag-msg.rag-answer, #rag-chat .rag-refusal")
        return bubbles.last

    def tab(self, index: int) -> None:
        self.page.locator("button[role=tab]").nth(index).click()

    def upload(self, path: Path) -> str:
        """Add ``path`` in the Articles tab (left open); returns the status line."""
        self.tab(1)
        self.page.locator("#rag-upload input[type=file]").set_input_files(str(path))
        self.page.wait_for_selector(f"#rag-upload :text('{path.name}')", timeout=60_000)
        self.page.locator("#rag-add").click()
        status = self.page.locator("#rag-docs-status p")
        status.wait_for(timeout=120_000)
        self.page.wait_for_function(
            "() => document.querySelector('#rag-docs-status p').textContent.length > 0"
        )
        return status.inner_text()

    def in_view(self, selector: str) -> bool:
        return bool(
            self.page.evaluate(
                """(sel) => {
                    const el = document.querySelector(sel);
                    if (!el) return false;
                    const r = el.getBoundingClientRect();
                    const box = document.querySelector('#rag-sources .rag-sources-scroll')
                        .getBoundingClientRect();
                    return r.height > 0 && r.top >= Math.max(0, box.top) - 1
                        && r.bottom <= Math.min(window.innerHeight, box.bottom) + 1;
                }""",
                selector,
            )
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, scripted_url: str) -> Iterator[Page]:
    p = Page(browser, scripted_url)
    yield p
    p.close()


def test_seed_question_streams_cites_and_scrolls_to_source(page: Page) -> None:
    pg = page.page
    assert pg.locator("button[role=tab]").all_inner_texts() == ["Tanya jawab", "Artikel"]
    examples = pg.locator("#rag-examples")
    for q in (Q_ALIANSI, Q_HOTEL, Q_INFID):
        examples.get_by_text(q).wait_for(timeout=30_000)
    pg.locator("#rag-settings .label-wrap").click()
    pg.locator("#rag-show-all input").check()

    page.ask(Q_ALIANSI)
    # While the model reads, the passages it was given are already on screen.
    pg.wait_for_function(
        """() => document.querySelector('#rag-chat .rag-pending')
              && document.querySelectorAll('#rag-sources li.rag-src').length > 0"""
    )
    first = page.wait_answer(1)
    assert "Aliansi Pasifik" in first.inner_text()
    page.ask(Q_HOTEL)
    page.wait_answer(2)

    # [1] of the first answer points into the folded first turn of the sources panel.
    target = "#rag-src-1-1"
    assert not page.in_view(target)
    pg.locator("#rag-sources .rag-sources-scroll").evaluate("el => el.scrollTo(0, el.scrollHeight)")
    pg.locator("#rag-chat a.rag-cite[href='#rag-src-1-1']").first.click()
    pg.wait_for_function(
        "(sel) => document.querySelector(sel).classList.contains('rag-focus')", arg=target
    )
    deadline = time.monotonic() + 5
    while not page.in_view(target) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert page.in_view(target)
    mark = pg.locator(f"{target} mark").first
    assert mark.is_visible() and "Aliansi Pasifik" in mark.inner_text()
    assert pg.locator(target).get_by_text("2021-08-20").is_visible()
    assert page.foreign_requests() == []


def test_conversation_survives_a_reload_and_exports_markdown(page: Page) -> None:
    pg = page.page
    page.ask(Q_ALIANSI)
    page.wait_answer(1)
    export = pg.locator("#rag-export")
    export.wait_for(state="visible", timeout=30_000)
    with pg.expect_download() as download:
        export.click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert markdown.startswith(f"# Conversation\n\n## 1. {Q_ALIANSI}")
    assert "> [1] " in markdown and "“" in markdown

    pg.reload()
    pg.wait_for_selector("#rag-question textarea")
    answer = page.wait_answer(1)
    assert "Aliansi Pasifik" in answer.inner_text()
    assert pg.locator("#rag-chat").get_by_text(Q_ALIANSI).is_visible()
    export.wait_for(state="visible", timeout=30_000)

    pg.locator("#rag-new").click()
    pg.wait_for_function("() => !document.querySelector('#rag-chat .rag-answer')")
    pg.reload()
    pg.wait_for_selector("#rag-question textarea")
    time.sleep(2)  # the kept conversation would be shown by now
    assert pg.locator("#rag-chat .rag-answer").count() == 0


def test_upload_then_ask_in_english(page: Page, tmp_path: Path) -> None:
    pg = page.page
    pg.get_by_text("English", exact=True).click()
    pg.locator("#rag-send").get_by_text("Ask", exact=True).wait_for()
    # the tab labels are re-rendered after the button's: wait for them before counting
    pg.locator("button[role=tab]").filter(has_text="Articles").first.wait_for()
    assert pg.locator("button[role=tab]").filter(has_text="Articles").count() == 1

    article = tmp_path / "layang.md"
    article.write_text(
        "# Festival Layang-Layang Pangandaran\n\nFestival Layang-Layang Pangandaran 2024 "
        "diikuti 40 tim dari 12 negara. Panitia mencatat 15 ribu penonton.\n",
        encoding="utf-8",
    )
    status = page.upload(article)
    assert "1 added" in status, status
    pg.locator("#rag-docs").get_by_text("Festival Layang-Layang Pangandaran").wait_for()

    page.tab(0)
    page.ask("How many teams joined the Pangandaran kite festival 2024?")
    answer = page.wait_answer(1)
    assert "40 tim" in answer.inner_text()
    assert "Festival Layang-Layang Pangandaran" in pg.locator("#rag-sources").inner_text()
    assert pg.locator("#rag-sources mark").first.is_visible()

    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x90\x00 not an article")
    page.tab(1)
    pg.locator("#rag-upload input[type=file]").set_input_files(str(bad))
    pg.get_by_text("Invalid file type: notes.exe").wait_for()
    pg.locator("#rag-add").click()
    pg.locator("#rag-docs-status").get_by_text("Choose one or more files first.").wait_for()
    assert pg.locator("#rag-docs").get_by_text("notes").count() == 0


def test_article_with_script_and_remote_image_is_shown_as_text(page: Page, tmp_path: Path) -> None:
    pg = page.page
    evil = tmp_path / "satelit.txt"
    evil.write_text(EVIL, encoding="utf-8")
    status = page.upload(evil)
    assert "ditambahkan" in status, status
    page.tab(0)
    page.ask("Kapan Satelit Nusantara Lima diluncurkan?")
    answer = page.wait_answer(1)
    time.sleep(1)
    assert "<script>window.__pwned=1</script>" in answer.inner_text()
    assert "![x](http://example.invalid/x.png)" in pg.locator("#rag-sources").inner_text()
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    for area in ("#rag-chat", "#rag-sources", "#rag-docs"):
        assert pg.locator(f"{area} script, {area} img, {area} iframe").count() == 0
    page.tab(1)
    pg.locator("#rag-docs").get_by_text("<script>window.__pwned=1</script>").wait_for()
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    assert page.foreign_requests() == []


def test_real_model_answers_in_the_browser(
    browser: Any, settings: Settings, tmp_path: Path
) -> None:
    demo, url = _serve(settings)
    page = Page(browser, url)
    try:
        pg = page.page
        pg.set_viewport_size({"width": 1400, "height": 900})
        pg.locator("#rag-settings .label-wrap").click()
        pg.locator("#rag-model input").click()
        pg.get_by_role("option", name=REAL_MODEL).click()
        page.ask(Q_ALIANSI)
        pg.wait_for_function(
            "() => document.querySelectorAll('#rag-sources li.rag-src').length > 0",
            timeout=300_000,
        )
        answer = page.wait_answer(1, timeout_s=600)
        assert pg.locator("#rag-chat .rag-error").count() == 0
        if pg.locator("#rag-chat a.rag-cite").count():
            link = pg.locator("#rag-chat a.rag-cite").first
            target = link.get_attribute("href").lstrip("#")
            link.click()
            pg.wait_for_function(
                "(id) => document.getElementById(id).classList.contains('rag-focus')", arg=target
            )
            assert pg.locator(f"#{target} mark").count() > 0
        else:
            assert "rag-refusal" in answer.get_attribute("class")
        time.sleep(0.8)
        # The README shows the default model; other models do not overwrite its picture.
        shot = SCREENSHOT
        if REAL_MODEL != README_MODEL and SCREENSHOT.exists():
            shot = tmp_path / "screenshot.png"
        shot.parent.mkdir(exist_ok=True)
        pg.locator("#rag-settings .label-wrap").click()
        pg.evaluate("window.scrollTo(0, 0)")
        pg.screenshot(path=str(shot))
        assert page.foreign_requests() == []
    finally:
        page.close()
        demo.close()
