"""What ``rag models`` lists: each model, where its file is and whether its hash checks out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ModelError
from rag.models.assembly import parts_installed
from rag.models.catalog import BUILTIN_MODELS, DEFAULT_MODEL, BuiltinModel, builtin_path
from rag.models.verify import cached_verification, verify_file

if TYPE_CHECKING:
    from rag.settings import Settings


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


def _builtin_status(model: BuiltinModel, settings: Settings, verify: bool) -> ModelStatus:
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
    return ModelStatus(
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


def _setting_status(spec: str) -> ModelStatus:
    """The row of a model setting that is not a built-in: a local file or a Hub file."""
    if spec.startswith("hf:"):
        return ModelStatus(
            name=spec,
            path=None,
            size=None,
            exists=False,
            verified=None,
            licence="see the model card on the Hugging Face Hub",
            default=False,
            selected=True,
        )
    path = Path(spec).expanduser()
    exists = path.is_file()
    return ModelStatus(
        name=path.name,
        path=path,
        size=path.stat().st_size if exists else None,
        exists=exists,
        verified=None,
        licence="unknown (your own file)",
        default=False,
        selected=True,
    )


def model_status(settings: Settings, verify: bool = False) -> list[ModelStatus]:
    """Status of every built-in model (and of ``settings.model`` when it is a local file).

    ``verify`` rehashes the built-in files instead of trusting the sidecar cache."""
    rows = [_builtin_status(model, settings, verify) for model in BUILTIN_MODELS.values()]
    spec = settings.model.strip()
    if spec not in BUILTIN_MODELS:
        rows.append(_setting_status(spec))
    return rows
