"""Passage KV states: the disk store (rag.states) without a model, the answer-mode choice
(rag.generate), and the stored-states path (rag.llm.llama_states) against the real built-in
0.5B model (short prompts, answers capped at a few tokens)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.generate import answer_stream, uses_states
from rag.llm import LLM, LlamaCppLLM, Message, get_llm
from rag.llm.llama_states import StatePrefill
from rag.models import BUILTIN_MODELS, builtin_path, parts_installed
from rag.prompt import (
    PASSAGE_SEPARATOR,
    PASSAGES_HEADER,
    SYSTEM_PROMPT,
    build_prompt,
    passage_body,
)
from rag.settings import Settings, get_settings
from rag.states import PassageCache
from rag.types import Hit

SMALL = "qwen2.5-coder-0.5b"
CAPITAL = Hit(
    chunk_id="zarkovia#0",
    doc_id="zarkovia",
    text="The capital of Zarkovia is Velmora. The city has two million inhabitants.",
    start=0,
    end=73,
    score=1.0,
    title="Zarkovia",
)
PRESIDENT = Hit(
    chunk_id="politics#0",
    doc_id="politics",
    text="The president of Zarkovia is Tomas Brevik, elected in 2019.",
    start=0,
    end=59,
    score=0.5,
    title="Politics",
)
LATER = Hit(
    chunk_id="later#0",
    doc_id="later",
    text="Zarkovia held its first election in 1991.",
    start=0,
    end=41,
    score=0.2,
    title="History",
)
TRADE = Hit(  # never stored: read in place in auto mode
    chunk_id="trade#0",
    doc_id="trade",
    text="Zarkovia exports amber and timber to its neighbours.",
    start=0,
    end=52,
    score=0.3,
    title="Trade",
)
QUESTION = "What is the capital of Zarkovia?"


# ---------------------------------------------------------------- disk store, no model


def test_put_get_round_trip_and_atomic(tmp_path: Path) -> None:
    cache = PassageCache(tmp_path / "kv", budget_bytes=10_000)
    key = PassageCache.make_key("model", "prefix", "passage")
    assert cache.get(key) is None
    assert cache.put(key, [1, 2, 3], b"state-bytes", {"kv_type": "f16"})
    got = cache.get(key)
    assert got is not None
    assert (got.tokens, got.data, got.meta["kv_type"]) == ([1, 2, 3], b"state-bytes", "f16")
    assert [p.name for p in (tmp_path / "kv").iterdir()] == [f"{key}.kv"]  # no temp files left


def test_keys_separate_every_part() -> None:
    key = PassageCache.make_key("model-a", "prefix", "text")
    assert key != PassageCache.make_key("model-b", "prefix", "text")
    assert key != PassageCache.make_key("model-a", "prefix2", "text")
    assert key != PassageCache.make_key("model-a", "prefix", "text2")
    # Parts are length-delimited: moving a boundary changes the key.
    assert PassageCache.make_key("ab", "c") != PassageCache.make_key("a", "bc")


def test_file_under_another_key_is_rejected(tmp_path: Path) -> None:
    cache = PassageCache(tmp_path, budget_bytes=10_000)
    a, b = PassageCache.make_key("a"), PassageCache.make_key("b")
    cache.put(a, [1], b"A")
    os.replace(cache.path(a), cache.path(b))  # a foreign state under b's name
    assert cache.get(b) is None
    assert not cache.path(b).exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-3],  # truncated
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 0xFF]),  # payload bit flip
        lambda raw: b"garbage" + raw[7:],  # bad magic
        lambda raw: raw[:12] + b"{" + raw[13:],  # broken header
        lambda raw: b"",
    ],
)
def test_damaged_file_is_deleted_not_loaded(tmp_path: Path, damage) -> None:  # noqa: ANN001
    cache = PassageCache(tmp_path, budget_bytes=10_000)
    key = PassageCache.make_key("k")
    cache.put(key, [5, 6], b"some state bytes")
    path = cache.path(key)
    path.write_bytes(damage(path.read_bytes()))
    assert cache.get(key) is None
    assert not path.exists()
    assert cache.rejected == 1


def test_lru_eviction_keeps_budget_and_recent_states(tmp_path: Path) -> None:
    cache = PassageCache(tmp_path, budget_bytes=5_000)  # four ~1.2 kB states fit
    keys = [PassageCache.make_key(str(i)) for i in range(5)]
    for age, key in enumerate(keys[:4]):
        cache.put(key, [age], bytes(1_000))
        os.utime(cache.path(key), (1_000_000 + age, 1_000_000 + age))  # oldest first
    assert all(k in cache for k in keys[:4])
    assert cache.get(keys[0]) is not None  # reading makes the oldest the most recent
    cache.put(keys[4], [4], bytes(1_000))  # over budget: evict down to 90% of it
    assert sum(size for _, size, _ in cache.entries()) <= 0.9 * cache.budget_bytes
    assert [k in cache for k in keys] == [True, False, False, True, True]
    assert cache.put(PassageCache.make_key("huge"), [0], bytes(6_000)) is False


def test_prompt_parts_are_what_the_messages_render() -> None:
    hits = [CAPITAL, PRESIDENT]
    prompt = build_prompt(QUESTION, hits, "en", "Where is Zarkovia?")
    messages = build_prompt(QUESTION, hits, "en", "Where is Zarkovia?").messages()
    assert prompt.messages() == messages
    assert messages[0]["content"] == prompt.system == SYSTEM_PROMPT
    assert prompt.labels == ["[1]", "[2]"]
    assert prompt.bodies[0] == " (Zarkovia) " + CAPITAL.text == passage_body(CAPITAL)
    assert prompt.tail.startswith(
        "Most relevant sentence: [1] The capital of Zarkovia is Velmora.\n\n"
        "Previous question: Where is Zarkovia?\nQuestion: "
    )
    pieces = [label + body + PASSAGE_SEPARATOR for label, body in zip(prompt.labels, prompt.bodies)]
    assert messages[1]["content"] == PASSAGES_HEADER + "".join(pieces) + prompt.tail
    assert [label + piece for label, piece in prompt.passage_pieces()] == pieces
    retry = prompt.with_retry_hint()
    assert retry.messages()[1]["content"].startswith(messages[1]["content"])
    assert retry.bodies == prompt.bodies


class _RemoteLike(LLM):
    """Stands in for a backend without llama.cpp state (e.g. the OpenAI-compatible one)."""

    name = "remote"

    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def stream(self, messages, *, max_tokens, temperature, stop=None) -> Iterator[str]:  # noqa: ANN001
        self.calls.append(messages)
        yield "Velmora [1]"


def test_other_backends_always_answer_in_full() -> None:
    llm = _RemoteLike()
    prompt = build_prompt(QUESTION, [CAPITAL], "en")
    text = "".join(answer_stream(llm, get_settings(), prompt, mode="cached"))
    assert text == "Velmora [1]" and llm.calls == [prompt.messages()]
    with pytest.raises(ModelError):
        StatePrefill(llm)  # type: ignore[arg-type]
    with pytest.raises(ModelError):
        answer_stream(llm, get_settings(), prompt, mode="fast")


# ---------------------------------------------------------------- with the 0.5B model


@pytest.fixture(scope="module")
def small_settings() -> Settings:
    pytest.importorskip("llama_cpp")
    # One thread: other jobs on a 2-core machine make two spinning threads crawl.
    settings = get_settings(model=SMALL, backend="llama", n_ctx=2048, max_tokens=8, n_threads=1)
    model = BUILTIN_MODELS[SMALL]
    if not builtin_path(model, settings.model_dir).exists() and not parts_installed(model):
        pytest.skip(f"{SMALL} is not installed (run `make setup`)")
    return settings


@pytest.fixture(scope="module")
def small_llm(small_settings: Settings) -> LlamaCppLLM:
    llm = get_llm(small_settings)
    assert isinstance(llm, LlamaCppLLM)
    return llm


@pytest.fixture(scope="module")
def kv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kvstates")


@pytest.fixture(scope="module")
def kv(small_llm: LlamaCppLLM, kv_dir: Path) -> Iterator[StatePrefill]:
    wrapped = StatePrefill(small_llm, PassageCache(kv_dir, budget_bytes=200 * 1024**2))
    yield wrapped
    wrapped.close()


def _ask(kv: StatePrefill, hits: list[Hit], question: str = QUESTION, **kw) -> str:  # noqa: ANN003
    prompt = build_prompt(question, hits, "en")
    return "".join(kv.stream(prompt, max_tokens=kw.pop("max_tokens", 24), temperature=0.0, **kw))


def test_pieces_tokenise_like_the_whole_prompt(kv: StatePrefill, small_llm) -> None:  # noqa: ANN001
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    prompt = build_prompt(QUESTION, [CAPITAL, PRESIDENT], "en")
    llama = small_llm._llama
    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama._model.token_get_text(llama.token_eos()),
        bos_token=llama._model.token_get_text(llama.token_bos()),
    )
    whole = formatter(messages=prompt.messages()).prompt
    expected = list(llama.tokenize(whole.encode(), add_bos=False, special=True))
    assert kv.prompt_tokens(prompt) == expected


def test_cached_answer_states_the_passage_fact(kv: StatePrefill, kv_dir: Path) -> None:
    built = kv.stats.built
    answer = _ask(kv, [CAPITAL])
    assert "Velmora" in answer
    key = kv.state_key(passage_body(CAPITAL), SYSTEM_PROMPT)
    assert (kv_dir / f"{key}.kv").is_file()
    assert kv.stats.built == built + 1
    # Another question over the same passage: its state comes from disk, same fact.
    kv._segments = []  # forget what the context holds, so the state must be loaded
    loaded = kv.stats.loaded
    assert "Velmora" in _ask(kv, [CAPITAL], "Which city is the capital of Zarkovia?")
    assert kv.stats.loaded == loaded + 1 and kv.stats.built == built + 1


def test_labels_between_stored_passages_cost_one_decode(
    kv: StatePrefill, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three passages from stored states: their labels are read in one batch, the tail in
    another, and the answer still takes the fact from the right passage."""
    hits = [PRESIDENT, LATER, CAPITAL]
    _ask(kv, hits)  # builds the states
    kv._segments = []
    calls: list[int] = []
    real = type(kv._ctx)._decode_items

    def counted(ctx, items):  # noqa: ANN001, ANN202
        calls.append(len(items))
        return real(ctx, items)

    monkeypatch.setattr(type(kv._ctx), "_decode_items", counted)
    answer = _ask(kv, hits, max_tokens=1)
    prompt = build_prompt(QUESTION, hits, "en")  # what _ask gives the model
    tail = kv.tokenize(prompt.tail + kv._template(prompt.system)[1])
    assert calls[:2] == [3 * len(kv.tokenize("[1]")), len(tail)]
    assert all(n == 1 for n in calls[2:]) and answer.strip()  # then one token at a time
    monkeypatch.undo()
    kv._segments = []
    assert "Velmora" in _ask(kv, hits)
    ctx = kv._ctx
    assert all(ctx.positions(seq) == (-1, -1) for seq in range(1, ctx.n_seq))  # spares empty
    start, end = ctx.positions(0)
    assert start == 0 and end >= len(kv.prompt_tokens(prompt))


def test_stored_and_unstored_passages_mix(kv: StatePrefill) -> None:
    """``auto``: a passage without a state is read in place between stored ones."""
    hits = [PRESIDENT, TRADE, CAPITAL]
    _ask(kv, [PRESIDENT, CAPITAL])  # those two stored
    assert not kv.has_state(passage_body(TRADE))
    kv._segments = []
    fresh, built = kv.stats.fresh, kv.stats.built
    assert "Velmora" in _ask(kv, hits, missing="fresh")
    assert (kv.stats.fresh, kv.stats.built) == (fresh + 1, built)
    assert not kv.has_state(passage_body(TRADE))


def test_stop_strings_end_the_answer(kv: StatePrefill) -> None:
    answer = _ask(kv, [CAPITAL], stop=["Velmora"])
    assert "Velmora" not in answer and "Velm" not in answer


def test_foreign_state_is_never_loaded(kv: StatePrefill, small_llm: LlamaCppLLM) -> None:
    body = passage_body(CAPITAL)
    _ask(kv, [CAPITAL])
    own = kv.state_key(body)
    assert own in kv.cache  # type: ignore[operator]
    # The same passage after another system prompt (another prefix) has another key.
    other_prefix = kv.state_key(body, system="You are a pirate. " + SYSTEM_PROMPT)
    assert other_prefix != own
    # Another model identity or KV type: another key too. Put this state under the key the
    # other configuration would use: it must be refused and recomputed.
    q8 = StatePrefill(small_llm, kv.cache, kv_type="q8_0")
    try:
        foreign = q8.state_key(body)
        assert foreign != own
        kv.cache.path(foreign).write_bytes(kv.cache.path(own).read_bytes())  # type: ignore[union-attr]
        built, rejected = q8.stats.built, kv.cache.rejected  # type: ignore[union-attr]
        # The q8_0 answer itself is not checked: the 0.5B model answers badly from q8_0
        # states (a known finding, see the note); what matters here is the key isolation.
        _ask(q8, [CAPITAL])
        assert q8.stats.built == built + 1  # recomputed, not loaded
        assert kv.cache.rejected == rejected + 1  # type: ignore[union-attr]
    finally:
        q8.close()


def test_state_with_wrong_tokens_is_recomputed(kv: StatePrefill) -> None:
    cache = kv.cache
    assert cache is not None
    _ask(kv, [CAPITAL])
    key = kv.state_key(passage_body(CAPITAL))
    stored = cache.get(key)
    assert stored is not None
    cache.put(key, stored.tokens[:-1] + [0], stored.data)  # intact file, tokens not ours
    kv._segments = []
    built, rejected = kv.stats.built, kv.stats.rejected
    assert "Velmora" in _ask(kv, [CAPITAL])
    assert (kv.stats.built, kv.stats.rejected) == (built + 1, rejected + 1)


def test_corrupt_cache_file_is_recomputed(kv: StatePrefill) -> None:
    cache = kv.cache
    assert cache is not None
    _ask(kv, [CAPITAL])
    path = cache.path(kv.state_key(passage_body(CAPITAL)))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    kv._segments = []
    built = kv.stats.built
    assert "Velmora" in _ask(kv, [CAPITAL])
    assert kv.stats.built == built + 1
    assert cache.get(kv.state_key(passage_body(CAPITAL))) is not None  # rewritten, intact


def test_modes_answer_the_same_input(
    small_llm: LlamaCppLLM, small_settings: Settings, kv_dir: Path
) -> None:
    settings = small_settings.merged(kv_cache_dir=kv_dir / "modes")
    prompt = build_prompt(QUESTION, [CAPITAL, PRESIDENT], "en")
    full = "".join(answer_stream(small_llm, settings, prompt, mode="full"))
    # auto with no stored state reads every passage in place: the full prefill, exactly.
    auto = "".join(answer_stream(small_llm, settings, prompt, mode="auto"))
    cached = "".join(answer_stream(small_llm, settings, prompt, mode="cached"))
    assert full.strip() and cached.strip()
    assert auto == full
    assert len(list((kv_dir / "modes").glob("*.kv"))) == 3  # prefix + two passages
    hits = list(prompt.hits)
    assert uses_states(small_llm, settings.merged(answer_mode="auto"), hits)
    assert not uses_states(small_llm, settings.merged(answer_mode="full"), hits)
    assert not uses_states(small_llm, settings.merged(answer_mode="auto"), [LATER])
