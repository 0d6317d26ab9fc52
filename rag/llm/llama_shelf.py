"""Where the llama.cpp states of ``rag.llm.llama_states`` are kept: on disk
(``rag.states.PassageCache``) or, without a cache, in memory; keyed so that a state is only
ever loaded where it was computed (model file, llama.cpp version, KV type, prefix, screen,
passage); and the counters of the states' use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.states import PassageCache, StoredState


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
    screened: int = 0  # sentences the screen left out while warming
    unread: int = 0  # passages the screen could not read (not stored)
    last_prompt_tokens: int = 0  # tokens decoded fresh by the last answer
    last_reused_tokens: int = 0  # tokens of the last prompt already in the context


class StateShelf:
    """The states of one model and KV type: ``cache`` on disk, or in memory when None.
    ``on_reject`` is called for each state refused (wrong tokens, or llama.cpp refused it)."""

    def __init__(
        self,
        cache: PassageCache | None,
        model_id: str,
        kv_type: str,
        llama_cpp_version: str,
        on_reject: Callable[[], None],
        screen_id: str = "",
    ) -> None:
        """``screen_id`` names the sentence screen that reads the passages before their states
        are stored (``rag.screen``): a state read by another screen, or none, is not reused."""
        self.cache = cache
        self.screen_id = screen_id
        self.model_id = model_id
        self.kv_type = kv_type
        self._on_reject = on_reject
        self._memory: dict[str, StoredState] = {}
        self._signature = "|".join(
            [model_id, f"llama_cpp {llama_cpp_version}", f"kv {kv_type}", "v1"]
        )

    def passage_key(self, head: str, text: str) -> str:
        """Key of the state of ``text`` (a body with its separator) after prefix ``head``. The
        screen's part is empty without one (the format's former state context, kept so states
        stored before screens stay valid)."""
        return PassageCache.make_key(self._signature, "passage", head, self.screen_id, text)

    def prefix_key(self, head: str) -> str:
        """Key of the state of the prefix ``head``."""
        return PassageCache.make_key(self._signature, "prefix", head)

    def __contains__(self, key: str) -> bool:
        return key in self._memory if self.cache is None else key in self.cache

    def load(self, key: str, tokens: list[int]) -> StoredState | None:
        """The state stored under ``key`` when it holds ``tokens`` (else it is rejected)."""
        state = self._memory.get(key) if self.cache is None else self.cache.get(key)
        if state is not None and state.tokens != tokens:
            self.reject(key)
            return None
        return state

    def reject(self, key: str) -> None:
        """Forget the state under ``key`` (it could not be used)."""
        self._on_reject()
        self._memory.pop(key, None)
        if self.cache is not None:
            self.cache.discard(key)

    def store(self, key: str, tokens: list[int], data: bytes) -> None:
        """Keep ``data``, the state of ``tokens``, under ``key``."""
        if self.cache is None:
            self._memory[key] = StoredState(key=key, tokens=tokens, data=data)
        else:
            meta = {"model": self.model_id, "kv_type": self.kv_type, "n_tokens": len(tokens)}
            self.cache.put(key, tokens, data, meta)
