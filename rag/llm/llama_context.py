"""A second llama.cpp context over a loaded model, with several sequences, for answers from
stored passage states: sequence 0 holds the prompt being answered; the others are where a
stored state is loaded and moved, or a piece decoded apart, before it joins sequence 0.
Decoding, moving states and sampling, on llama.cpp's low-level API; the prompt logic is in
``rag.llm.llama_states``."""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError

if TYPE_CHECKING:
    from llama_cpp import Llama

    from rag.llm.hidden import HiddenCapture

KV_TYPES = ("f16", "q8_0")
# Sequence 0 holds the prompt; the others load states and decode pieces apart.
N_SEQ = 8


class SeqContext:
    """:data:`N_SEQ` KV sequences over the weights of ``llama`` (``kv_unified``), with keys
    that can be shifted (``llama_memory_seq_add`` re-rotates them)."""

    def __init__(
        self,
        llama: Llama,
        *,
        name: str,
        kv_type: str = "f16",
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_batch: int | None = None,
        capture: HiddenCapture | None = None,
    ) -> None:
        """A context like ``llama``'s own (threads, batch, window unless given). ``kv_type``
        ``q8_0`` halves the states and enables flash attention, which llama.cpp needs for a
        quantised V cache. ``name`` names the model in errors; ``capture`` is its eval
        callback (the model's reading of a prompt, ``rag.llm.hidden``)."""
        import llama_cpp as lc
        from llama_cpp import _internals

        if kv_type not in KV_TYPES:
            raise ModelError(f"unknown KV type {kv_type!r}; choose {' or '.join(KV_TYPES)}")
        self._lc = lc
        model = llama._model
        self._vocab = lc.llama_model_get_vocab(model.model)
        base = llama.context_params
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx or base.n_ctx
        params.n_batch = n_batch or base.n_batch
        params.n_ubatch = min(params.n_batch, n_batch or base.n_ubatch)
        params.n_threads = n_threads or base.n_threads
        params.n_threads_batch = n_threads_batch or n_threads or base.n_threads_batch
        params.n_seq_max = self.n_seq = N_SEQ
        params.kv_unified = True
        params.type_k = params.type_v = lc.GGML_TYPE_Q8_0 if kv_type == "q8_0" else lc.GGML_TYPE_F16
        if capture is not None:
            capture.attach(params)
        params.flash_attn_type = (
            lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if kv_type == "q8_0"
            else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        try:
            self._ctx = _internals.LlamaContext(model=model, params=params, verbose=False)
        except ValueError as exc:
            raise ModelError(
                f"llama.cpp could not create a context for cached answers ({exc}); "
                "use RAG_ANSWER_MODE=full"
            ) from exc
        if not lc.llama_memory_can_shift(self._ctx.memory):
            self._ctx.close()
            raise ModelError(
                f"{name} cannot move cached states (no KV shift); use RAG_ANSWER_MODE=full"
            )
        self.n_ctx = lc.llama_n_ctx(self._ctx.ctx)
        self.n_batch = int(params.n_batch)
        self._batch = _internals.LlamaBatch(
            n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False
        )

    def decode(self, tokens: Sequence[int], pos: int, seq: int = 0) -> None:
        """Decode ``tokens`` at positions ``pos..`` of ``seq``; logits for the last one."""
        self._decode_items([(token, pos + i, seq) for i, token in enumerate(tokens)])

    def decode_apart(self, pieces: Sequence[tuple[Sequence[int], int]]) -> None:
        """Decode each ``(tokens, pos)`` piece into sequence 0, up to ``N_SEQ - 1`` pieces per
        batch: each reads sequence 0's cells before ``pos`` but not the other pieces of its
        batch (each is decoded in a spare sequence holding those cells, then joins sequence
        0; pieces that follow each other are one piece, as llama.cpp needs a piece right after
        cells of its sequence). On a CPU a decode costs nearly as much for 3 tokens as for 10
        (each reads all the weights), so the labels between stored passages cost one decode,
        not one each."""
        merged: list[tuple[list[int], int]] = []
        for tokens, pos in pieces:
            if merged and merged[-1][1] + len(merged[-1][0]) == pos:
                merged[-1][0].extend(tokens)
            elif tokens:
                merged.append((list(tokens), pos))
        spare = range(1, self.n_seq)
        try:
            for first in range(0, len(merged), len(spare)):
                group = list(zip(spare, merged[first : first + len(spare)]))
                items: list[tuple[int, int, int]] = []
                for seq, (tokens, pos) in group:
                    self.remove(seq)
                    self.copy(0, seq, 0, pos)
                    if self.positions(seq)[1] != pos - 1:
                        raise RuntimeError(f"no cell before position {pos} to decode after")
                    items += [(token, pos + i, seq) for i, token in enumerate(tokens)]
                self._decode_items(items)
                for seq, _ in group:
                    self.copy(seq, 0)
        finally:
            for seq in spare:
                self.remove(seq)

    def check_fits(self, end: int) -> None:
        """Raise when a prompt of ``end`` tokens does not fit the context window."""
        if end > self.n_ctx:
            raise ModelError(
                f"the prompt is longer than the model's context window ({self.n_ctx} tokens); "
                "lower RAG_CONTEXT_TOKENS or raise RAG_N_CTX"
            )

    def _decode_items(self, items: Sequence[tuple[int, int, int]]) -> None:
        """Decode ``(token, position, sequence)`` items in batches; logits for the last."""
        if items:
            self.check_fits(max(pos for _, pos, _ in items) + 1)
        batch = self._batch.batch
        for start in range(0, len(items), self.n_batch):
            chunk = items[start : start + self.n_batch]
            batch.n_tokens = len(chunk)
            for i, (token, pos, seq) in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.seq_id[i][0] = seq
                batch.n_seq_id[i] = 1
                batch.logits[i] = False
            batch.logits[len(chunk) - 1] = True
            rc = self._lc.llama_decode(self._ctx.ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")

    def remove(self, seq: int, p0: int = -1, p1: int = -1) -> None:
        """Drop positions ``[p0, p1)`` of ``seq`` (-1: open end; ``seq`` -1: every sequence)."""
        self._lc.llama_memory_seq_rm(self._ctx.memory, seq, p0, p1)

    def copy(self, src: int, dst: int, p0: int = -1, p1: int = -1) -> None:
        """Copy positions ``[p0, p1)`` of ``src`` into ``dst``."""
        self._lc.llama_memory_seq_cp(self._ctx.memory, src, dst, p0, p1)

    def shift(self, seq: int, delta: int) -> None:
        """Move every position of ``seq`` by ``delta``."""
        self._lc.llama_memory_seq_add(self._ctx.memory, seq, -1, -1, delta)

    def positions(self, seq: int) -> tuple[int, int]:
        """The first and last position ``seq`` holds."""
        mem = self._ctx.memory
        return self._lc.llama_memory_seq_pos_min(mem, seq), self._lc.llama_memory_seq_pos_max(
            mem, seq
        )

    def get_state(self, seq: int) -> bytes:
        """``seq``'s KV state as bytes (``llama_state_seq_get_data``)."""
        size = self._lc.llama_state_seq_get_size(self._ctx.ctx, seq)
        buf = (ctypes.c_uint8 * size)()
        if self._lc.llama_state_seq_get_data(self._ctx.ctx, buf, size, seq) != size:
            raise RuntimeError("llama_state_seq_get_data wrote a short state")
        return bytes(buf)

    def set_state(self, seq: int, data: bytes) -> bool:
        """Load ``data`` into ``seq``; ``False`` when llama.cpp refuses the bytes."""
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        return self._lc.llama_state_seq_set_data(self._ctx.ctx, buf, len(data), seq) > 0

    def generate(
        self,
        cur: int,
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Sample the answer after a prompt of ``cur`` tokens in sequence 0, decoding each
        token at the next position; text never includes a stop string or what may start one."""
        lc = self._lc
        sampler = _sampler(temperature, seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = [s for s in (stop or []) if s]
        pending = ""
        try:
            for _ in range(max_tokens):
                token = lc.llama_sampler_sample(sampler.sampler, self._ctx.ctx, -1)
                if lc.llama_vocab_is_eog(self._vocab, token):
                    break
                pending += decoder.decode(self.piece(token))
                out, pending, stopped = _split_at_stop(pending, stops)
                if out:
                    yield out
                if stopped:
                    return
                if cur >= self.n_ctx:
                    break
                self.decode([token], cur, 0)
                cur += 1
            pending += decoder.decode(b"", final=True)
            if pending:
                yield pending
        finally:
            sampler.close()

    def close(self) -> None:
        """Free the context and its batch."""
        self._batch.close()
        self._ctx.close()

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes of ``token`` (however long; ``special``: control tokens as their text)."""
        buf = ctypes.create_string_buffer(64)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[: max(n, 0)]


def _split_at_stop(pending: str, stops: list[str]) -> tuple[str, str, bool]:
    """``(text to show, text held back, stopped)``: the text before the first stop string, or
    all but a tail that could still become one."""
    if not stops:
        return pending, "", False
    hit = min((i for s in stops if (i := pending.find(s)) >= 0), default=-1)
    if hit >= 0:
        return pending[:hit], "", True
    hold = max(
        (n for s in stops for n in range(1, len(s)) if pending.endswith(s[:n])),
        default=0,
    )
    return pending[: len(pending) - hold], pending[len(pending) - hold :], False


def _sampler(temperature: float, seed: int) -> Any:
    from llama_cpp import _internals

    sampler = _internals.LlamaSampler()
    if temperature <= 0:
        sampler.add_greedy()
    else:
        # llama-cpp-python's create_chat_completion defaults.
        sampler.add_top_k(40)
        sampler.add_top_p(0.95, 1)
        sampler.add_min_p(0.05, 1)
        sampler.add_temp(temperature)
        sampler.add_dist(seed)
    return sampler
