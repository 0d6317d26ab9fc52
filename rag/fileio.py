"""Files written whole or not at all, their sha256, and a lock that holds across processes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

BLOCK_BYTES = 8 * 1024 * 1024


def atomic_write(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    a reader sees the old file or the new one, never half of one. The temporary file is
    removed when the write fails (the error is raised)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        tmp.write_bytes(blob)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path, on_block: Callable[[int], object] | None = None) -> str:
    """Hex sha256 of a file, read in blocks; ``on_block(n)`` is told each block's size (for
    a progress bar)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            digest.update(block)
            if on_block is not None:
                on_block(len(block))
    return digest.hexdigest()


@contextmanager
def locked(path: Path, on_wait: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) while the block runs;
    waits while another process or thread holds it, calling ``on_wait`` once first. The kernel
    drops the lock if the holder dies (``kill -9`` included), so a crash never leaves it
    stuck."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_arrays(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (as float32) and the JSON ``meta`` as one compressed ``.npz``,
    atomically (a fitted probe's file)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    packed = {name: a.astype(np.float32) for name, a in arrays.items()}
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), **packed)
    atomic_write(path, buf.getvalue())


def read_arrays(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON meta and the float32 arrays of a file :func:`write_arrays` wrote. Raises
    ``OSError``, ``KeyError`` or ``ValueError`` when it is not one."""
    import numpy as np

    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        return meta, {k: z[k].astype(np.float32) for k in z.files if k != "meta"}
