"""Checks of model files: size and sha256, the ``.verified`` sidecar cache, the GGUF magic.

Hashing 1.1 GB takes a few seconds, so a successful check is remembered in a sidecar file next
to the model, keyed by the file's size, mtime and inode; ``verify_file(..., force=True)``
(``rag models --verify``) rehashes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rag import fileio
from rag.errors import ModelError
from rag.models.catalog import BUILTIN_MODELS

if TYPE_CHECKING:
    from tqdm import tqdm

GGUF_MAGIC = b"GGUF"
SIDECAR_SUFFIX = ".verified"
# A file modified within this window before it was hashed could change again inside the same
# timestamp tick without its mtime moving, so such a check is not cached ("racy" like git's).
_RACY_NS = 2_000_000_000


def _progress_bar(total: int, desc: str, enabled: bool) -> tqdm:
    """A byte-counting tqdm bar on stderr (a silent one when not ``enabled``)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=not enabled,
        file=sys.stderr,
        leave=False,
    )


def sha256_file(path: Path, *, progress: bool = False) -> str:
    """Hex sha256 of a file (with a tqdm bar on stderr when ``progress``)."""
    with _progress_bar(path.stat().st_size, f"verifying {path.name}", progress) as bar:
        return fileio.sha256_file(path, bar.update)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _key(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _drop_sidecar(path: Path) -> None:
    _sidecar(path).unlink(missing_ok=True)


def _write_sidecar(path: Path, sha256: str, *, verified_at_ns: int) -> None:
    st = path.stat()
    if st.st_mtime_ns > verified_at_ns - _RACY_NS:
        return
    record = {**_key(st), "sha256": sha256, "verified_at_ns": verified_at_ns}
    with contextlib.suppress(OSError):  # a read-only folder only costs a rehash next time
        fileio.atomic_write(_sidecar(path), json.dumps(record))


def cached_verification(path: Path, sha256: str) -> bool:
    """Whether the sidecar says ``path`` (unchanged since) was verified against ``sha256``."""
    try:
        record = json.loads(_sidecar(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == sha256
        and all(record.get(k) == v for k, v in _key(st).items())
    )


def verify_file(
    path: Path, *, size: int, sha256: str, force: bool = False, progress: bool = False
) -> bool:
    """Check ``path`` has the expected size and sha256; raise ``ModelError`` if not.

    Returns ``True`` when the sidecar cache answered (no hashing), ``False`` when it hashed.
    ``force`` ignores the cache."""
    path = Path(path)
    try:
        actual = path.stat().st_size
    except OSError as exc:
        raise ModelError(f"model file {path} is missing; run `make setup`") from exc
    if actual != size:
        _drop_sidecar(path)
        raise ModelError(
            f"model file {path} is {actual} bytes, expected {size} (truncated or replaced); "
            "delete it and run `make setup`"
        )
    if not force and cached_verification(path, sha256):
        return True
    started_ns = time.time_ns()
    if sha256_file(path, progress=progress) != sha256:
        _drop_sidecar(path)
        raise ModelError(
            f"model file {path} fails its sha256 check (corrupt or altered); "
            "delete it and run `make setup`"
        )
    _write_sidecar(path, sha256, verified_at_ns=started_ns)
    return False


def check_gguf(path: Path) -> Path:
    """Check that ``path`` exists and starts with the GGUF magic; raise ``ModelError`` if not."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError as exc:
        raise ModelError(
            f"model file {path} not found; set RAG_MODEL to a built-in name "
            f"({', '.join(BUILTIN_MODELS)}), a local .gguf file or hf:REPO/FILE.gguf"
        ) from exc
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file; point RAG_MODEL at a .gguf file")
    return path
