"""The disk store of passage KV states: one file per state in a folder, kept under a byte
budget by evicting the least recently used, and the identity of the model they belong to.

A file holds its key, its tokens and a checksum besides llama.cpp's bytes, so a stale, foreign
or damaged state is deleted, never loaded. Nothing here needs llama.cpp: computing and placing
the states is the llama backend's work (``rag.llm.llama_states``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.fileio import atomic_write

if TYPE_CHECKING:
    from rag.settings import Settings

FORMAT_VERSION = 1
DEFAULT_BUDGET_BYTES = 2 * 1024**3

_MAGIC = b"RAGKV\x01\n"
_HEADER_LEN = struct.Struct("<I")


@dataclass
class StoredState:
    """One state read back from the cache: the tokens it holds and llama.cpp's bytes."""

    key: str
    tokens: list[int]
    data: bytes
    meta: dict[str, Any] = field(default_factory=dict)


def encode_state(key: str, tokens: Sequence[int], data: bytes, meta: dict[str, Any]) -> bytes:
    """The file contents for a state: magic, header length, JSON header, llama.cpp's bytes."""
    header = {
        **meta,
        "key": key,
        "tokens": [int(t) for t in tokens],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return _MAGIC + _HEADER_LEN.pack(len(head)) + head + data


def decode_state(raw: bytes, key: str) -> StoredState | None:
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
        state = decode_state(raw, key)
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
        blob = encode_state(key, tokens, data, meta or {})
        if len(blob) > self.budget_bytes:
            return False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path(key), blob)
        except OSError:
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


def cache_folder(settings: Settings) -> Path:
    """Where passage states are stored: ``RAG_KV_CACHE_DIR`` or ``<model_dir>/kvcache``."""
    folder = getattr(settings, "kv_cache_dir", None)
    return Path(folder).expanduser() if folder else Path(settings.model_dir) / "kvcache"


def model_identity(path: Path | str, cache_folder: Path | str | None = None) -> str:
    """A stable identity for a model file: its sha256.

    Built-in models use their known hash once ``rag.models`` has verified the file; other files
    are hashed once and the result is remembered in ``cache_folder/models.json``, keyed by the
    file's path, size, mtime and inode."""
    from rag.fileio import sha256_file
    from rag.models import BUILTIN_MODELS, cached_verification

    path = Path(path).resolve()
    st = path.stat()
    for model in BUILTIN_MODELS.values():
        same = path.name == model.filename and st.st_size == model.size
        if same and cached_verification(path, model.sha256):
            return model.sha256
    stamp = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    memo_path = Path(cache_folder).expanduser() / "models.json" if cache_folder else None
    memo = _read_memo(memo_path) if memo_path is not None else {}
    if isinstance(memo.get(stamp), str):
        return memo[stamp]
    digest = sha256_file(path)
    if memo_path is not None:
        memo[stamp] = digest
        with contextlib.suppress(OSError):
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(memo_path, json.dumps(memo))
    return digest


def _read_memo(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
