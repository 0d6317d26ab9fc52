"""Answer without re-reading the passages: each passage's key/value state is computed once,
stored on disk, and placed into the prompt at question time.

The prompt is the one ``rag.prompt.build_messages`` writes, split into pieces::

    <template head + system prompt + user header> "Passages:\\n"   fixed prefix, cached
    "[1]"  " (Title) text of passage one\\n\\n"                      label fresh, body cached
    "[2]"  " (Title) text of passage two\\n\\n"                      ...
    "Question: ...\\nAnswer in Indonesian ..." <template tail>       decoded fresh

A body's state is computed after the fixed prefix only (never after other passages), at the
position right after the prefix, and saved with ``llama_state_seq_get_data``. At question time
it is loaded into sequence 1 of a two-sequence context (``kv_unified``), shifted to the end of
sequence 0 (``llama_memory_seq_add`` re-rotates the keys) and copied into sequence 0. Only the
labels, the question and the template tail are read by the model: a few dozen tokens instead of
several hundred. The pieces tokenise exactly like the whole prompt does, so the only difference
from a full prefill is that a passage does not attend to the passages before it.

States live in a :class:`PassageCache` folder (by default ``<model_dir>/kvcache``), one file per
passage, keyed by the sha256 of the model file, the llama.cpp version, the KV type, the prefix
text and the passage text; every file carries its key, its tokens and a checksum, so a stale,
foreign or damaged state is deleted and recomputed, never loaded. The folder keeps under a byte
budget by evicting the least recently used states.

Answer modes (``answer_stream``): ``full`` is the ordinary prefill; ``cached`` loads every
passage's state, computing and storing missing ones on first use; ``auto`` loads the states
that exist and reads the other passages in place, like ``full`` (``rag ingest --warm`` fills
the cache ahead of time, see :func:`warm_index`).
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import hashlib
import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rag.errors import ModelError

if TYPE_CHECKING:
    from rag.llm import LLM, LlamaCppLLM, Message
    from rag.settings import Settings
    from rag.types import Hit

FORMAT_VERSION = 1
MODES = ("auto", "cached", "full")
KV_TYPES = ("f16", "q8_0")
PASSAGES_HEADER = "Passages:\n"
SEPARATOR = "\n\n"
DEFAULT_BUDGET_BYTES = 2 * 1024**3

_MAGIC = b"RAGKV\x01\n"
_HEADER_LEN = struct.Struct("<I")
_SENTINEL = "\u0000RAG-PASSAGES\u0000"

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------- disk store


@dataclass
class StoredState:
    """One state read back from the cache: the tokens it holds and llama.cpp's bytes."""

    key: str
    tokens: list[int]
    data: bytes
    meta: dict[str, Any] = field(default_factory=dict)


def _encode(key: str, tokens: Sequence[int], data: bytes, meta: dict[str, Any]) -> bytes:
    header = {
        **meta,
        "key": key,
        "tokens": [int(t) for t in tokens],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return _MAGIC + _HEADER_LEN.pack(len(head)) + head + data


def _decode(raw: bytes, key: str) -> StoredState | None:
    """The state in ``raw`` if it is intact and stored under ``key``; else ``None``."""
    if not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + _HEADER_LEN.size:
        return None
    start = len(_MAGIC) + _HEADER_LEN.size
    (head_len,) = _HEADER_LEN.unpack_from(raw, len(_MAGIC))
    try:
        header = json.loads(raw[start : start + head_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    data = raw[start + head_len :]
    if (
        not isinstance(header, dict)
        or header.get("key") != key
        or header.get("size") != len(data)
        or header.get("sha256") != hashlib.sha256(data).hexdigest()
        or not isinstance(header.get("tokens"), list)
    ):
        return None
    tokens = header.pop("tokens")
    return StoredState(key=key, tokens=[int(t) for t in tokens], data=data, meta=header)


class PassageCache:
    """A folder of KV states, one ``<key>.kv`` file each, kept under ``budget_bytes`` by
    evicting the least recently used (by modification time, refreshed on every read).

    Writes are atomic (temporary file, then rename), so readers in other processes see a whole
    file or none. A file that fails its checks is deleted by :meth:`get`."""

    def __init__(self, folder: Path | str, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        """``folder`` is created on the first write."""
        self.folder = Path(folder).expanduser()
        self.budget_bytes = int(budget_bytes)
        self.rejected = 0  # files deleted because they failed a check
        self._lock = threading.Lock()
        self._total: int | None = None  # running estimate of the folder's bytes

    @staticmethod
    def make_key(*parts: str) -> str:
        """The sha256 key of ``parts`` (model identity, KV type, prefix text, passage text...)."""
        digest = hashlib.sha256(f"rag-kv/{FORMAT_VERSION}".encode())
        for part in parts:
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        """Where the state for ``key`` is stored."""
        return self.folder / f"{key}.kv"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> StoredState | None:
        """The intact state stored under ``key``, or ``None`` (a damaged file is deleted)."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        state = _decode(raw, key)
        if state is None:
            self.discard(key)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # last use, for LRU eviction
        return state

    def put(
        self, key: str, tokens: Sequence[int], data: bytes, meta: dict[str, Any] | None = None
    ) -> bool:
        """Store a state atomically and evict old ones past the budget. Returns ``False`` when
        the state alone is larger than the budget (nothing stored)."""
        blob = _encode(key, tokens, data, meta or {})
        if len(blob) > self.budget_bytes:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            tmp.write_bytes(blob)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            return False
        with self._lock:
            if self._total is not None:
                self._total += len(blob)
            over = self._total is None or self._total > self.budget_bytes
        if over:
            self.evict(keep=key)
        return True

    def discard(self, key: str) -> None:
        """Delete the state for ``key`` (a damaged or rejected file)."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return
        except OSError:
            return
        with self._lock:
            self.rejected += 1
            self._total = None

    def entries(self) -> list[tuple[Path, int, float]]:
        """Every stored state as ``(path, bytes, last used)``, oldest first."""
        rows = []
        try:
            scan = list(os.scandir(self.folder))
        except OSError:
            return []
        for entry in scan:
            if not entry.name.endswith(".kv") or entry.name.startswith("."):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            rows.append((Path(entry.path), st.st_size, st.st_mtime))
        rows.sort(key=lambda r: r[2])
        return rows

    def total_bytes(self) -> int:
        """Bytes used by the stored states."""
        return sum(size for _, size, _ in self.entries())

    def evict(self, keep: str | None = None) -> int:
        """Delete the least recently used states until the folder fits the budget (down to 90%
        of it, so a full cache does not rescan on every write). Returns the files deleted."""
        rows = self.entries()
        total = sum(size for _, size, _ in rows)
        removed = 0
        if total > self.budget_bytes:
            target = int(self.budget_bytes * 0.9)
            for path, size, _ in rows:
                if total <= target:
                    break
                if keep is not None and path.name == f"{keep}.kv":
                    continue
                try:
                    path.unlink()
                except OSError:
                    continue
                total -= size
                removed += 1
        with self._lock:
            self._total = total
        return removed

    def clear(self) -> None:
        """Delete every stored state."""
        for path, _, _ in self.entries():
            path.unlink(missing_ok=True)
        with self._lock:
            self._total = 0


# ---------------------------------------------------------------- model identity


def model_identity(path: Path | str, cache_folder: Path | str | None = None) -> str:
    """A stable identity for a model file: its sha256.

    Built-in models use their known hash once ``rag.models`` has verified the file; other files
    are hashed once and the result is remembered in ``cache_folder/models.json``, keyed by the
    file's path, size, mtime and inode."""
    from rag.models import BUILTIN_MODELS, cached_verification, sha256_file

    path = Path(path).resolve()
    st = path.stat()
    for model in BUILTIN_MODELS.values():
        same = path.name == model.filename and st.st_size == model.size
        if same and cached_verification(path, model.sha256):
            return model.sha256
    stamp = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    memo_path = Path(cache_folder).expanduser() / "models.json" if cache_folder else None
    memo: dict[str, str] = {}
    if memo_path is not None:
        try:
            loaded = json.loads(memo_path.read_text())
            memo = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            memo = {}
        if isinstance(memo.get(stamp), str):
            return memo[stamp]
    digest = sha256_file(path)
    if memo_path is not None:
        memo[stamp] = digest
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(memo))
            os.replace(tmp, memo_path)
        except OSError:
            pass
    return digest


# ---------------------------------------------------------------- prompt pieces


@dataclass
class PromptParts:
    """``build_messages``' prompt cut into the pieces the cached path decodes separately."""

    system: str
    labels: list[str]
    bodies: list[str]
    tail: str

    def user(self) -> str:
        """The user message these parts make (equal to ``build_messages``' one)."""
        return (
            PASSAGES_HEADER
            + "".join(label + body + SEPARATOR for label, body in zip(self.labels, self.bodies))
            + self.tail
        )


def passage_body(hit: Hit, n: int = 1) -> str:
    """What follows the ``[n]`` label in ``format_passage``: ``" (title) text"``."""
    from rag.prompt import format_passage

    label = f"[{n}]"
    text = format_passage(n, hit)
    if not text.startswith(label):
        raise ValueError(f"format_passage no longer starts with {label!r}")
    return text[len(label) :]


def split_prompt(messages: Sequence[Message], hits: Sequence[Hit]) -> PromptParts | None:
    """Cut ``build_messages(question, hits, ...)`` into system, labels, bodies and tail, or
    ``None`` when the messages do not have that shape (a changed prompt falls back to full)."""
    if len(messages) != 2 or messages[0].get("role") != "system" or not hits:
        return None
    user = messages[1].get("content", "")
    try:
        labels = [f"[{n}]" for n in range(1, len(hits) + 1)]
        bodies = [passage_body(hit, n) for n, hit in enumerate(hits, 1)]
    except ValueError:
        return None
    parts = PromptParts(messages[0].get("content", ""), labels, bodies, "")
    head = parts.user()
    if not user.startswith(head):
        return None
    parts.tail = user[len(head) :]
    return parts


# ---------------------------------------------------------------- the cached-prefill model


@dataclass
class _Segment:
    kind: str  # prefix | label | state | fresh | tail
    tokens: tuple[int, ...]


@dataclass
class CacheStats:
    """Counters since the model was wrapped (for benchmarks and logs)."""

    loaded: int = 0  # states read from disk
    built: int = 0  # states computed (and stored)
    fresh: int = 0  # passages read in place (auto mode, no state)
    rejected: int = 0  # stored states refused (wrong tokens or llama.cpp refused the bytes)
    build_s: float = 0.0
    build_tokens: int = 0
    state_bytes: int = 0  # bytes of the states built
    last_prompt_tokens: int = 0  # tokens decoded fresh by the last answer
    last_reused_tokens: int = 0  # tokens of the last prompt already in the context


class CachedPrefillLLM:
    """A loaded ``LlamaCppLLM`` answering from stored passage states.

    It shares the model weights and its lock (full and cached answers never interleave) and
    owns a second llama.cpp context with two sequences: 0 holds the prompt being answered,
    1 is where a stored state is loaded and moved. Sequence 0 keeps the system prefix (and the
    passages of the previous question) between answers."""

    def __init__(
        self,
        llm: LlamaCppLLM,
        cache: PassageCache | None = None,
        *,
        kv_type: str = "f16",
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_batch: int | None = None,
        seed: int = 0,
        label_in_state: bool = False,
        state_context: str = "",
    ) -> None:
        """Wrap ``llm``; ``cache`` ``None`` keeps states in memory only (tests, benchmarks).
        ``kv_type`` ``q8_0`` halves the states (and enables flash attention, which llama.cpp
        needs for a quantised V cache). Threads and batch default to ``llm``'s."""
        import llama_cpp as lc
        from llama_cpp import _internals

        from rag.llm import LlamaCppLLM

        if not isinstance(llm, LlamaCppLLM):
            raise ModelError(
                "the cached answer mode needs the in-process llama.cpp backend; "
                "set RAG_ANSWER_MODE=full or RAG_BACKEND=llama"
            )
        if kv_type not in KV_TYPES:
            raise ModelError(f"unknown KV type {kv_type!r}; choose {' or '.join(KV_TYPES)}")
        llama = llm._llama
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(
                f"{llm.name} has no chat template in its GGUF; use RAG_ANSWER_MODE=full"
            )
        self.llm = llm
        self.cache = cache
        self.kv_type = kv_type
        self.label_in_state = label_in_state
        self.state_context = state_context
        self.name = f"{llm.name}+kv"
        self.stats = CacheStats()
        self._lc = lc
        self._llama = llama
        self._model = llama._model
        self._vocab = lc.llama_model_get_vocab(self._model.model)
        self._memory_states: dict[str, StoredState] = {}
        self._segments: list[_Segment] = []
        self._seed = seed

        base = llama.context_params
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx or llm.n_ctx or base.n_ctx
        params.n_batch = n_batch or base.n_batch
        params.n_ubatch = min(params.n_batch, n_batch or base.n_ubatch)
        params.n_threads = n_threads or base.n_threads
        params.n_threads_batch = n_threads_batch or n_threads or base.n_threads_batch
        params.n_seq_max = 2
        params.kv_unified = True
        ggml_type = lc.GGML_TYPE_Q8_0 if kv_type == "q8_0" else lc.GGML_TYPE_F16
        params.type_k = params.type_v = ggml_type
        params.flash_attn_type = (
            lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if kv_type == "q8_0"
            else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        try:
            self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        except ValueError as exc:
            raise ModelError(
                f"llama.cpp could not create a context for cached answers ({exc}); "
                "use RAG_ANSWER_MODE=full"
            ) from exc
        if not lc.llama_memory_can_shift(self._ctx.memory):
            self._ctx.close()
            raise ModelError(
                f"{llm.name} cannot move cached states (no KV shift); use RAG_ANSWER_MODE=full"
            )
        self.n_ctx = lc.llama_n_ctx(self._ctx.ctx)
        self.n_batch = int(params.n_batch)
        self._batch = _internals.LlamaBatch(
            n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False
        )
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return self._model.token_get_text(token) if token != -1 else ""

        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(llama.token_eos()),
            bos_token=token_text(llama.token_bos()),
        )
        cache_folder = cache.folder if cache is not None else None
        self.model_id = model_identity(llm.path, cache_folder)
        self._signature = "|".join(
            [self.model_id, f"llama_cpp {lc.__version__}", f"kv {kv_type}", "v1"]
        )

    # ----------------------------------------------------------- public API

    def stream_passages(
        self,
        system: str,
        passages: Sequence[str],
        tail: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        labels: Sequence[str] | None = None,
        missing: Literal["build", "fresh"] = "build",
        fresh: Sequence[int] = (),
    ) -> Iterator[str]:
        """Stream the answer to the chat [system, user], where the user message is
        ``"Passages:\\n" + "".join(labels[i] + passages[i] + "\\n\\n") + tail`` and
        ``labels`` default to ``[1]``, ``[2]``, ... (``passages[i]`` is ``format_passage``
        without its label, see :func:`passage_body`).

        Each passage comes from its stored state; a missing one is computed and stored
        (``missing="build"``) or read in place (``"fresh"``); passages whose index is in
        ``fresh`` are always read in place. Labels are read in place, unless the object
        was made with ``label_in_state`` (one state per passage and label, so the passage's
        tokens see their label). Closing the iterator stops generation."""
        llm = self.llm
        if llm._owner == threading.get_ident():
            raise ModelError(
                "this thread is still reading an unfinished answer; close it before asking again"
            )
        labels = (
            list(labels) if labels is not None else [f"[{n}]" for n in range(1, 1 + len(passages))]
        )
        if len(labels) != len(passages):
            raise ValueError("one label per passage")
        with llm._lock:
            if getattr(llm, "_closed", False):
                raise ModelError(f"model {llm.name} was closed; get a new one with get_llm()")
            llm._owner = threading.get_ident()
            try:
                cur = self._prefill(
                    system,
                    labels,
                    list(passages),
                    tail,
                    missing,
                    set(fresh),
                )
                yield from self._generate(cur, max_tokens, temperature, stop)
            except RuntimeError as exc:
                self._segments = []
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise ModelError(f"llama.cpp failed while answering: {message[:160]}") from exc
            except BaseException:
                self._segments = []
                raise
            finally:
                llm._owner = None

    def warm(
        self,
        passages: Sequence[str],
        *,
        system: str | None = None,
        labels: Sequence[str] = ("[1]", "[2]", "[3]"),
        progress: Progress | None = None,
    ) -> int:
        """Compute and store the states of ``passages`` (bodies as in :meth:`stream_passages`)
        that are not stored yet; ``progress(done, total)`` after each. With
        ``label_in_state`` a passage has one state per label in ``labels``. Returns how many
        were computed. The model is taken one state at a time, so answers can run between."""
        from rag.prompt import SYSTEM_PROMPT

        system = SYSTEM_PROMPT if system is None else system
        if self.llm._owner == threading.get_ident():
            raise ModelError("this thread is still reading an unfinished answer; close it first")
        head, _ = self._template(system)
        texts = [
            label + body + SEPARATOR if self.label_in_state else body + SEPARATOR
            for body in passages
            for label in (labels if self.label_in_state else [""])
        ]
        built = 0
        for done, text in enumerate(texts, 1):
            key = self._key(head, text)
            if not self._has_state(key):
                with self.llm._lock:
                    try:
                        prefix = self._ensure_prefix(head)
                        self._build_state(key, prefix, text, keep=False)
                    except RuntimeError as exc:
                        self._segments = []
                        raise ModelError(
                            f"llama.cpp failed while computing a state: {exc}"
                        ) from exc
                built += 1
            if progress is not None:
                progress(done, len(texts))
        return built

    def has_states(
        self,
        passages: Sequence[str],
        system: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> list[bool]:
        """Which of ``passages`` have a stored state for ``system`` (at ``labels``, default
        ``[1]``, ``[2]``..., when states hold their label)."""
        labels = labels or [f"[{n}]" for n in range(1, len(passages) + 1)]
        return [
            self._has_state(self.state_key(body, system, label))
            for body, label in zip(passages, labels)
        ]

    def state_key(self, body: str, system: str | None = None, label: str = "[1]") -> str:
        """The cache key of passage ``body``'s state after ``system``'s prefix (``label``
        counts only when states hold their label)."""
        from rag.prompt import SYSTEM_PROMPT

        head, _ = self._template(SYSTEM_PROMPT if system is None else system)
        return self._key(head, (label if self.label_in_state else "") + body + SEPARATOR)

    def prompt_tokens(
        self,
        system: str,
        passages: Sequence[str],
        tail: str,
        labels: Sequence[str] | None = None,
    ) -> list[int]:
        """The prompt's tokens as the cached path feeds them, piece by piece (equal to the
        whole prompt tokenised at once)."""
        head, template_tail = self._template(system)
        labels = labels if labels is not None else [f"[{n}]" for n in range(1, len(passages) + 1)]
        tokens = self.tokenize(head, add_bos=True)
        for label, body in zip(labels, passages):
            tokens += self.tokenize(label) + self.tokenize(body + SEPARATOR)
        return tokens + self.tokenize(tail + template_tail)

    def tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        """``text`` as tokens, special tokens (template tags) recognised."""
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def close(self) -> None:
        """Free the context (the wrapped model stays loaded)."""
        with self.llm._lock:
            self._batch.close()
            self._ctx.close()

    # ----------------------------------------------------------- prompt and keys

    def _template(self, system: str) -> tuple[str, str]:
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": PASSAGES_HEADER + _SENTINEL},
        ]
        prompt = self._formatter(messages=messages).prompt  # type: ignore[arg-type]
        head, found, tail = prompt.partition(_SENTINEL)
        if not found:
            raise ModelError("the chat template rewrites the user message; use full mode")
        return head, tail

    def _key(self, head: str, text: str) -> str:
        """Key of the state of segment ``text`` (a body with its separator, or a label)."""
        return PassageCache.make_key(self._signature, "passage", head, self.state_context, text)

    def _has_state(self, key: str) -> bool:
        if self.cache is None:
            return key in self._memory_states
        return key in self.cache

    def _load_state(self, key: str, tokens: list[int]) -> StoredState | None:
        state = self._memory_states.get(key) if self.cache is None else self.cache.get(key)
        if state is not None and state.tokens != tokens:
            self._reject(key)
            return None
        return state

    def _reject(self, key: str) -> None:
        self.stats.rejected += 1
        self._memory_states.pop(key, None)
        if self.cache is not None:
            self.cache.discard(key)

    def _store_state(self, key: str, tokens: list[int], data: bytes) -> None:
        state = StoredState(key=key, tokens=tokens, data=data)
        if self.cache is None:
            self._memory_states[key] = state
        else:
            meta = {"model": self.model_id, "kv_type": self.kv_type, "n_tokens": len(tokens)}
            self.cache.put(key, tokens, data, meta)

    # ----------------------------------------------------------- llama.cpp plumbing

    def _decode(self, tokens: Sequence[int], pos: int, seq: int = 0) -> None:
        """Decode ``tokens`` at positions ``pos..`` of ``seq``; logits for the last one."""
        lc = self._lc
        if pos + len(tokens) > self.n_ctx:
            raise ModelError(
                f"the prompt is longer than the model's context window ({self.n_ctx} tokens); "
                "lower RAG_CONTEXT_TOKENS or raise RAG_N_CTX"
            )
        batch = self._batch.batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = pos + start + i
                batch.seq_id[i][0] = seq
                batch.n_seq_id[i] = 1
                batch.logits[i] = False
            batch.logits[len(chunk) - 1] = True
            rc = lc.llama_decode(self._ctx.ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")

    def _seq_rm(self, seq: int, p0: int = -1, p1: int = -1) -> None:
        self._lc.llama_memory_seq_rm(self._ctx.memory, seq, p0, p1)

    def _get_seq_state(self, seq: int) -> bytes:
        lc = self._lc
        size = lc.llama_state_seq_get_size(self._ctx.ctx, seq)
        buf = (ctypes.c_uint8 * size)()
        got = lc.llama_state_seq_get_data(self._ctx.ctx, buf, size, seq)
        if got != size:
            raise RuntimeError("llama_state_seq_get_data wrote a short state")
        return bytes(buf)

    def _set_seq_state(self, seq: int, data: bytes) -> bool:
        lc = self._lc
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        return lc.llama_state_seq_set_data(self._ctx.ctx, buf, len(data), seq) > 0

    def _ensure_prefix(self, head: str) -> list[int]:
        """Make sequence 0 start with the prefix tokens of ``head`` (from the context, from
        disk, or decoded); returns them."""
        tokens = self.tokenize(head, add_bos=True)
        if self._segments and self._segments[0] == _Segment("prefix", tuple(tokens)):
            return tokens
        self._segments = []
        self._seq_rm(0)
        self._seq_rm(1)
        key = PassageCache.make_key(self._signature, "prefix", head)
        state = self._load_state(key, tokens)
        loaded = state is not None and self._set_seq_state(0, state.data)
        if state is not None and not loaded:
            self._reject(key)
        if loaded and self._lc.llama_memory_seq_pos_max(self._ctx.memory, 0) != len(tokens) - 1:
            self._reject(key)
            loaded = False
        if not loaded:
            self._seq_rm(0)
            self._decode(tokens, 0, 0)
            self._store_state(key, tokens, self._get_seq_state(0))
        self._segments = [_Segment("prefix", tuple(tokens))]
        return tokens

    def _build_state(self, key: str, prefix: list[int], text: str, *, keep: bool) -> list[int]:
        """Compute ``text`` after the prefix alone, in sequence 1, and store it. With ``keep``
        the state stays in sequence 1 (at the position after the prefix) for placing."""
        tokens = self.tokenize(text)
        context = self.tokenize(self.state_context) if self.state_context else []
        p = len(prefix) + len(context)
        started = time.perf_counter()
        self._seq_rm(1)
        self._lc.llama_memory_seq_cp(self._ctx.memory, 0, 1, 0, len(prefix))
        self._decode(context + tokens, len(prefix), 1)
        self._seq_rm(1, 0, p)
        data = self._get_seq_state(1)
        self._store_state(key, tokens, data)
        if not keep:
            self._seq_rm(1)
        self.stats.built += 1
        self.stats.build_s += time.perf_counter() - started
        self.stats.build_tokens += len(tokens)
        self.stats.state_bytes += len(data)
        return tokens

    def _place(self, key: str, prefix: list[int], text: str, cur: int, build: bool) -> int | None:
        """Put the state of segment ``text`` at position ``cur`` of sequence 0; returns its
        token count, or ``None`` when there is no usable state and ``build`` is false."""
        lc = self._lc
        tokens = self.tokenize(text)
        p = len(prefix) + (len(self.tokenize(self.state_context)) if self.state_context else 0)
        state = self._load_state(key, tokens)
        ready = False
        if state is not None:
            ready = self._set_seq_state(1, state.data)
            mem = self._ctx.memory
            if ready and (
                lc.llama_memory_seq_pos_min(mem, 1) != p
                or lc.llama_memory_seq_pos_max(mem, 1) != p + len(tokens) - 1
            ):
                ready = False
            if not ready:
                self._seq_rm(1)
                self._reject(key)
            else:
                self.stats.loaded += 1
        if not ready:
            if not build:
                return None
            self._build_state(key, prefix, text, keep=True)
        mem = self._ctx.memory
        lc.llama_memory_seq_add(mem, 1, -1, -1, cur - p)
        lc.llama_memory_seq_cp(mem, 1, 0, -1, -1)
        self._seq_rm(1)
        return len(tokens)

    def _prefill(
        self,
        system: str,
        labels: list[str],
        bodies: list[str],
        tail: str,
        missing: str,
        fresh: set[int],
    ) -> int:
        """Fill sequence 0 with the prompt; returns its length (logits ready for the last)."""
        head, template_tail = self._template(system)
        prefix = self._ensure_prefix(head)
        plan: list[tuple[str, str, int]] = []  # (kind, text, passage index)
        for i, (label, body) in enumerate(zip(labels, bodies)):
            kind = "fresh" if i in fresh else "state"
            if self.label_in_state:
                plan.append((kind, label + body + SEPARATOR, i))
            else:
                plan.append(("label", label, i))
                plan.append((kind, body + SEPARATOR, i))
        plan.append(("tail", tail + template_tail, -1))
        planned = [_Segment(kind, tuple(self.tokenize(text))) for kind, text, _ in plan]

        # Keep what sequence 0 already holds of this prompt, up to (never including) the tail.
        keep = 1
        while (
            keep < len(self._segments)
            and keep - 1 < len(planned) - 1
            and self._segments[keep] == planned[keep - 1]
        ):
            keep += 1
        self._segments = self._segments[:keep]
        cur = sum(len(s.tokens) for s in self._segments)
        self._seq_rm(0, cur, -1)
        self._seq_rm(1)
        reused = cur

        new_tokens = 0
        for (kind, text, _), segment in list(zip(plan, planned))[keep - 1 :]:
            tokens = list(segment.tokens)
            if kind == "state":
                build = missing == "build"
                placed = self._place(self._key(head, text), prefix, text, cur, build=build)
                if placed is None:
                    segment = _Segment("fresh", segment.tokens)
                    kind = "fresh"
                    self.stats.fresh += 1
                else:
                    cur += placed
                    self._segments.append(segment)
                    continue
            self._decode(tokens, cur, 0)
            cur += len(tokens)
            new_tokens += len(tokens)
            self._segments.append(segment)
        self.stats.last_prompt_tokens = new_tokens
        self.stats.last_reused_tokens = reused
        return cur

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[: max(n, 0)]

    def _sampler(self, temperature: float) -> Any:
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
            sampler.add_dist(self._seed)
        return sampler

    def _generate(
        self, cur: int, max_tokens: int, temperature: float, stop: list[str] | None
    ) -> Iterator[str]:
        lc = self._lc
        sampler = self._sampler(temperature)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = [s for s in (stop or []) if s]
        pending = ""
        try:
            for _ in range(max_tokens):
                token = lc.llama_sampler_sample(sampler.sampler, self._ctx.ctx, -1)
                if lc.llama_vocab_is_eog(self._vocab, token):
                    break
                pending += decoder.decode(self._piece(token))
                if stops:
                    hit = min((i for s in stops if (i := pending.find(s)) >= 0), default=-1)
                    if hit >= 0:
                        if pending[:hit]:
                            yield pending[:hit]
                        return
                    hold = max(
                        (n for s in stops for n in range(1, len(s)) if pending.endswith(s[:n])),
                        default=0,
                    )
                else:
                    hold = 0
                out, pending = pending[: len(pending) - hold], pending[len(pending) - hold :]
                if out:
                    yield out
                if cur >= self.n_ctx:
                    break
                self._decode([token], cur, 0)
                cur += 1
            pending += decoder.decode(b"", final=True)
            if pending:
                yield pending
        finally:
            sampler.close()


# ---------------------------------------------------------------- wiring for rag.answer


_WRAPPED: dict[tuple[Any, ...], CachedPrefillLLM] = {}
_WRAPPED_LOCK = threading.Lock()


def cache_folder(settings: Settings) -> Path:
    """Where passage states are stored: ``RAG_KV_CACHE_DIR`` or ``<model_dir>/kvcache``."""
    folder = getattr(settings, "kv_cache_dir", None)
    return Path(folder).expanduser() if folder else Path(settings.model_dir) / "kvcache"


def get_cached_llm(llm: LLM, settings: Settings) -> CachedPrefillLLM:
    """The shared :class:`CachedPrefillLLM` over ``llm`` for ``settings`` (created once)."""
    kv_type = getattr(settings, "kv_cache_type", "f16")
    budget = int(getattr(settings, "kv_cache_bytes", DEFAULT_BUDGET_BYTES))
    folder = cache_folder(settings)
    key = (id(llm), kv_type, str(folder), budget)
    with _WRAPPED_LOCK:
        for stale in [k for k, w in _WRAPPED.items() if getattr(w.llm, "_closed", False)]:
            del _WRAPPED[stale]  # its model was closed, and its context with it
        wrapped = _WRAPPED.get(key)
        if wrapped is None or wrapped.llm is not llm:
            wrapped = CachedPrefillLLM(
                llm,  # type: ignore[arg-type]
                PassageCache(folder, budget),
                kv_type=kv_type,
            )
            _WRAPPED[key] = wrapped
        return wrapped


def uses_states(llm: LLM, settings: Settings, hits: Sequence[Hit]) -> bool:
    """Whether :func:`answer_stream` will answer ``hits`` from stored passage states here:
    ``cached`` mode (it builds the missing ones), or ``auto`` with at least one stored."""
    from rag.llm import LlamaCppLLM

    mode = getattr(settings, "answer_mode", "full")
    if mode == "full" or not isinstance(llm, LlamaCppLLM):
        return False
    if mode == "cached":
        return True
    try:
        cached = get_cached_llm(llm, settings)
    except ModelError:
        return False
    return any(cached.has_states([passage_body(h) for h in hits]))


def answer_stream(
    llm: LLM,
    settings: Settings,
    messages: list[Message],
    hits: Sequence[Hit],
    *,
    mode: str | None = None,
) -> Iterator[str]:
    """The answer to ``messages`` (from ``build_messages(question, hits, ...)``) in the answer
    mode of ``settings`` (``RAG_ANSWER_MODE``) or ``mode``: ``full`` prefills the whole prompt;
    ``cached`` uses stored passage states, building missing ones; ``auto`` uses stored states
    and reads the passages without one in place. A remote backend, or a prompt the cached path
    cannot split, always answers in ``full``."""
    from rag.llm import LlamaCppLLM

    mode = mode or getattr(settings, "answer_mode", "full")
    if mode not in MODES:
        raise ModelError(f"unknown answer mode {mode!r}; choose one of {', '.join(MODES)}")
    kwargs: dict[str, Any] = {
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
    }
    parts = split_prompt(messages, hits) if mode != "full" else None
    if parts is None or not isinstance(llm, LlamaCppLLM):
        return llm.stream(messages, **kwargs)
    try:
        cached = get_cached_llm(llm, settings)
    except ModelError:
        if mode == "cached":
            raise
        return llm.stream(messages, **kwargs)
    return cached.stream_passages(
        parts.system,
        parts.bodies,
        parts.tail,
        labels=parts.labels,
        missing="build" if mode == "cached" else "fresh",
        **kwargs,
    )


def index_passages(index_dir: Path | str, embed_model: str | None = None) -> list[str]:
    """The body (``format_passage`` without its label) of every chunk of an index."""
    from rag.index import Index
    from rag.types import Hit

    index = Index.load(Path(index_dir), embed_model)
    bodies = []
    for row, rec in enumerate(index.data.rows):
        doc = index.doc_for_row(row)
        hit = Hit(
            chunk_id="",
            doc_id=doc.id,
            text=rec.text,
            start=rec.start,
            end=rec.end,
            score=0.0,
            title=doc.title,
        )
        bodies.append(passage_body(hit))
    return bodies


def warm_index(settings: Settings, progress: Progress | None = None) -> tuple[int, int]:
    """Compute the missing passage states of every chunk of ``settings.index_dir`` (for
    ``rag ingest --warm``). Returns ``(computed, total)``."""
    from rag.llm import get_llm

    bodies = list(dict.fromkeys(index_passages(settings.index_dir, settings.embed_model)))
    cached = get_cached_llm(get_llm(settings), settings)
    return cached.warm(bodies, progress=progress), len(bodies)
