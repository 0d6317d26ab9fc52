"""The model's reading of a prompt (rag.llm.hidden) on the real built-in 0.5B model: what is
captured is the last prompt token's state, on the full path and the stored-states path alike,
and generation does not overwrite it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from rag.llm import LlamaCppLLM
from rag.llm.hidden import LOGITS, layer_name
from rag.llm.llama_states import StatePrefill
from rag.models import BUILTIN_MODELS, builtin_path
from rag.prompt import build_prompt
from rag.settings import get_settings
from tests.test_kvcache import CAPITAL, PRESIDENT, QUESTION

pytestmark = pytest.mark.slow
LAYER = 10


@pytest.fixture(scope="module")
def small() -> Iterator[LlamaCppLLM]:
    path = builtin_path(BUILTIN_MODELS["qwen2.5-coder-0.5b"], get_settings().model_dir)
    if not path.is_file():
        pytest.skip("the 0.5B model is not installed (make setup)")
    llm = LlamaCppLLM(path, n_ctx=1024, n_threads=2)
    llm.read_hidden([layer_name(LAYER), LOGITS])
    yield llm
    llm.close()


PROMPT = build_prompt(QUESTION, [CAPITAL, PRESIDENT], "en")


def first_token_and_reading(llm: LlamaCppLLM, pieces: Iterator[str]) -> tuple[str, dict]:
    text = "".join(pieces)
    reading = llm.reading()
    assert reading is not None
    return text, reading.rows


def test_full_prefill_keeps_the_last_prompt_tokens_state(small: LlamaCppLLM) -> None:
    text, rows = first_token_and_reading(
        small, small.stream_prompt(PROMPT, max_tokens=12, temperature=0)
    )
    hidden, logits = rows[layer_name(LAYER)], rows[LOGITS]
    assert hidden.shape == (small._llama.n_embd(),) and np.isfinite(hidden).all()
    assert logits.shape == (small._llama.n_vocab(),)
    # the captured logits are the ones the first answer token was sampled from (greedy)
    first = small._llama.detokenize([int(np.argmax(logits))]).decode()
    assert text.startswith(first.strip()) or text.startswith(first)
    # one token or twelve: generation's decodes do not overwrite the prompt's reading
    _, again = first_token_and_reading(
        small, small.stream_prompt(PROMPT, max_tokens=1, temperature=0)
    )
    assert np.allclose(again[layer_name(LAYER)], hidden, atol=0.05 * np.abs(hidden).max())


def test_stored_states_read_the_same_last_token(small: LlamaCppLLM) -> None:
    _, full = first_token_and_reading(
        small, small.stream_prompt(PROMPT, max_tokens=1, temperature=0)
    )
    prefill = StatePrefill(small)  # states in memory
    text, rows = first_token_and_reading(
        small, prefill.stream(PROMPT, max_tokens=8, temperature=0, missing="build")
    )
    first = small._llama.detokenize([int(np.argmax(rows[LOGITS]))]).decode()
    assert text.startswith(first.strip()) or text.startswith(first)
    a, b = full[layer_name(LAYER)], rows[layer_name(LAYER)]
    cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert cosine > 0.9, cosine  # passages read apart: close to, not equal to, the full reading
    prefill.close()


def test_without_capture_nothing_is_read() -> None:
    path = builtin_path(BUILTIN_MODELS["qwen2.5-coder-0.5b"], get_settings().model_dir)
    if not path.is_file():
        pytest.skip("the 0.5B model is not installed (make setup)")
    llm = LlamaCppLLM(path, n_ctx=512, n_threads=2, capture=False)
    try:
        assert not llm.read_hidden([layer_name(LAYER)])
        assert "".join(llm.stream_prompt(PROMPT, max_tokens=3, temperature=0))
        assert llm.reading() is None
    finally:
        llm.close()


def test_keeping_more_rows_reads_the_same_last_token(small: LlamaCppLLM) -> None:
    _, one = first_token_and_reading(
        small, small.stream_prompt(PROMPT, max_tokens=1, temperature=0)
    )
    small._llama.reset()  # read the whole prompt again, not from llama.cpp's cached prefix
    small.capture.keep = 6
    try:
        "".join(small.stream_prompt(PROMPT, max_tokens=1, temperature=0))
        kept = small.reading()
    finally:
        small.capture.keep = 1
    assert kept is not None
    block = kept.block(LAYER)
    assert block is not None and block.shape == (6, small._llama.n_embd())
    last = kept.layer(LAYER)
    assert last is not None and np.array_equal(last, block[-1])
    a = one[layer_name(LAYER)]
    assert np.allclose(last, a, atol=0.05 * np.abs(a).max())
    assert not np.allclose(block[0], block[-1])  # the rows are different tokens' states
    assert kept.logits is not None and kept.logits.ndim == 1
