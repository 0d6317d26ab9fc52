"""How a model setting becomes a checked local GGUF file: a built-in, a path or a Hub file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ModelError
from rag.models.assembly import ensure_builtin
from rag.models.catalog import BUILTIN_MODELS
from rag.models.verify import check_gguf

if TYPE_CHECKING:
    from rag.settings import Settings


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
    """The local, checked GGUF file for ``settings.model`` (see ``rag.models``).

    Built-ins are assembled on first use and sha256-verified (cached); local files and Hub
    downloads are checked for the GGUF magic. Raises ``ModelError`` with a one-line fix."""
    spec = settings.model.strip()
    if spec in BUILTIN_MODELS:
        return ensure_builtin(BUILTIN_MODELS[spec], settings.model_dir, progress=progress)
    if spec.startswith("hf:"):
        return check_gguf(_download_hf(spec, settings.model_dir))
    return check_gguf(Path(spec))
