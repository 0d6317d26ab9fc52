"""Model files: assembly from parts, sha256 checks, the verification cache, model settings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.models import (
    BUILTIN_MODELS,
    BuiltinModel,
    assemble,
    assembly,
    check_gguf,
    ensure_builtin,
    find_parts,
    install_models,
    model_status,
    parts_installed,
    resolve_model,
    verify,
    verify_file,
)
from rag.settings import get_settings


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    """Three fake part files of a "GGUF" file; the last is shorter, as in the real models."""
    folder = tmp_path / "parts"
    folder.mkdir()
    paths = []
    for i, size in enumerate((1000, 1000, 337), start=1):
        p = folder / f"part{i:02d}.bin"
        p.write_bytes(os.urandom(size) if i > 1 else b"GGUF" + os.urandom(size - 4))
        paths.append(p)
    return paths


def _expected(parts: list[Path]) -> tuple[bytes, int, str]:
    blob = b"".join(p.read_bytes() for p in parts)
    return blob, len(blob), hashlib.sha256(blob).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _fake_model(parts: list[Path], name: str = "fake-model") -> BuiltinModel:
    _, size, sha = _expected(parts)
    return BuiltinModel(
        name=name,
        filename=f"{name}.gguf",
        size=size,
        sha256=sha,
        dist_prefix="rag-test-no-such-dist-part",
        parts=len(parts),
        licence="test",
        description="test",
    )


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_assemble_concatenates_parts_in_order(parts: list[Path], tmp_path: Path) -> None:
    blob, size, sha = _expected(parts)
    dest = tmp_path / "out" / "model.gguf"

    assert assemble(parts, dest, size=size, sha256=sha) == dest

    assert dest.read_bytes() == blob
    assert _leftovers(dest.parent) == []
    assert verify_file(dest, size=size, sha256=sha) is True  # answered by the sidecar


def test_assemble_refuses_a_truncated_part(parts: list[Path], tmp_path: Path) -> None:
    _, size, sha = _expected(parts)
    parts[1].write_bytes(parts[1].read_bytes()[:-10])
    dest = tmp_path / "model.gguf"

    with pytest.raises(ModelError, match="expected"):
        assemble(parts, dest, size=size, sha256=sha)

    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_assemble_refuses_an_altered_byte(parts: list[Path], tmp_path: Path) -> None:
    _, size, sha = _expected(parts)
    _flip_byte(parts[2], 100)
    dest = tmp_path / "model.gguf"

    with pytest.raises(ModelError, match="sha256"):
        assemble(parts, dest, size=size, sha256=sha)

    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_failed_assembly_keeps_the_previous_good_file(parts: list[Path], tmp_path: Path) -> None:
    blob, size, sha = _expected(parts)
    dest = assemble(parts, tmp_path / "model.gguf", size=size, sha256=sha)
    _flip_byte(parts[0], 10)

    with pytest.raises(ModelError):
        assemble(parts, dest, size=size, sha256=sha)

    assert dest.read_bytes() == blob


def test_missing_part_package_says_to_run_make_setup(parts: list[Path]) -> None:
    model = _fake_model(parts)

    with pytest.raises(ModelError, match="make setup") as err:
        find_parts(model)

    assert "\n" not in str(err.value)
    assert parts_installed(model) is False


def test_resolve_model_assembles_a_builtin_once(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_model(parts)
    monkeypatch.setitem(BUILTIN_MODELS, model.name, model)
    monkeypatch.setattr(assembly, "find_parts", lambda m: parts if m is model else find_parts(m))
    settings = get_settings(model=model.name, model_dir=tmp_path / "models")

    path = resolve_model(settings, progress=False)
    inode = path.stat().st_ino
    again = resolve_model(settings, progress=False)

    assert path == tmp_path / "models" / model.filename
    assert path.read_bytes() == _expected(parts)[0]
    assert again == path and again.stat().st_ino == inode  # not rebuilt


def test_resolve_model_without_parts_raises(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_model(parts)
    monkeypatch.setitem(BUILTIN_MODELS, model.name, model)

    with pytest.raises(ModelError, match="make setup"):
        resolve_model(get_settings(model=model.name, model_dir=tmp_path), progress=False)

    assert not (tmp_path / model.filename).exists()


def test_sidecar_cache_skips_hashing_until_the_file_changes(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, size, sha = _expected(parts)
    dest = assemble(parts, tmp_path / "model.gguf", size=size, sha256=sha)
    real_sha256_file = verify.sha256_file
    calls: list[Path] = []

    def counting_sha256_file(path: Path, *, progress: bool = False) -> str:
        calls.append(path)
        return real_sha256_file(path, progress=progress)

    monkeypatch.setattr(verify, "sha256_file", counting_sha256_file)

    assert verify_file(dest, size=size, sha256=sha) is True
    assert calls == []

    _flip_byte(dest, 1500)  # same size, same inode, new mtime

    with pytest.raises(ModelError, match="sha256"):
        verify_file(dest, size=size, sha256=sha)
    assert calls == [dest]


def test_sidecar_is_dropped_when_the_file_is_truncated(parts: list[Path], tmp_path: Path) -> None:
    _, size, sha = _expected(parts)
    dest = assemble(parts, tmp_path / "model.gguf", size=size, sha256=sha)
    with open(dest, "r+b") as f:
        f.truncate(size - 1)

    with pytest.raises(ModelError, match="truncated"):
        verify_file(dest, size=size, sha256=sha)
    assert not verify._sidecar(dest).exists()


def test_force_rehashes_despite_the_cache(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, size, sha = _expected(parts)
    dest = assemble(parts, tmp_path / "model.gguf", size=size, sha256=sha)

    assert verify_file(dest, size=size, sha256=sha, force=True) is False


def test_corrupt_builtin_is_refused_and_repair_rebuilds_it(
    parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_model(parts)
    monkeypatch.setitem(BUILTIN_MODELS, model.name, model)
    path = ensure_builtin(model, tmp_path, progress=False, parts=parts)
    _flip_byte(path, 5)
    settings = get_settings(model=model.name, model_dir=tmp_path)

    with pytest.raises(ModelError, match="sha256") as err:
        resolve_model(settings, progress=False)
    assert "\n" not in str(err.value)

    rows = {row.name: row for row in model_status(settings, verify=True)}
    assert rows[model.name].exists and rows[model.name].verified is False

    ensure_builtin(model, tmp_path, progress=False, parts=parts, repair=True)
    assert resolve_model(settings, progress=False) == path
    rows = {row.name: row for row in model_status(settings)}
    assert rows[model.name].verified is True and rows[model.name].selected


def test_install_models_rejects_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown"):
        install_models(["no-such-model"], get_settings(model_dir=tmp_path), progress=False)


def test_local_gguf_path_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "mine.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 60)
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")

    assert resolve_model(get_settings(model=str(good))) == good
    with pytest.raises(ModelError, match="not a GGUF"):
        resolve_model(get_settings(model=str(bad)))
    with pytest.raises(ModelError, match="not found"):
        check_gguf(tmp_path / "absent.gguf")


def test_hf_spec_is_validated_and_download_failure_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelError, match="hf:OWNER/REPO/FILE.gguf"):
        resolve_model(get_settings(model="hf:just-a-repo", model_dir=tmp_path))

    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # a real download attempt, failing
    with pytest.raises(ModelError, match="could not download") as err:
        resolve_model(get_settings(model="hf:someone/some-repo/model.gguf", model_dir=tmp_path))
    assert "\n" not in str(err.value)
    assert "RAG_MODEL" in str(err.value)


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_installed_builtin_parts_assemble(name: str, tmp_path: Path) -> None:
    model = BUILTIN_MODELS[name]
    if not parts_installed(model):
        pytest.skip(f"part packages of {name} are not installed (run `make setup`)")

    path = ensure_builtin(model, tmp_path, progress=False)

    assert path.stat().st_size == model.size
    assert check_gguf(path) == path
    assert verify_file(path, size=model.size, sha256=model.sha256) is True
