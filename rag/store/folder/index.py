"""The index folder on disk, loaded and written: FAISS vectors, the chunk table, a BM25 index
and a manifest that describes them (txtai-style: the config travels with the index).

Files in the folder:
- ``manifest.json``: format version, embedder name and dimension, chunking settings, FAISS kind,
  the documents (id, title, date, url, content hash, chunk count) and a checksum of every file;
- ``chunks.jsonl``: one chunk a line, row-aligned with the vectors;
- ``texts.jsonl``: the cleaned text of each distinct document content (citations quote it);
- ``vectors.npy``: float32 normalised embeddings, kept so a removal never re-embeds;
- ``faiss.index`` and ``bm25/``.

Content is stored once per content hash: two document ids whose texts differ at most in
whitespace share chunks.
Every write builds a sibling temporary folder and swaps it in with a rename. ``rag.index`` is
this module under its former name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexStateError
from rag.fileio import sha256_file
from rag.store.base import (  # the row types stay importable from here (rag.index)
    BM25_B,
    BM25_K1,
    FORMAT_VERSION,
    ChunkRow,
    DocInfo,
    IndexData,
)
from rag.store.folder.search import FolderStore

if TYPE_CHECKING:
    import numpy as np

MANIFEST = "manifest.json"
_SMALL_FILE = 64 * 1024 * 1024  # files below this are checksummed on load
_LOAD_TRIES = 40  # 50 ms apart: a reader waits out a writer's swap for up to 2 s


def choose_index_type(requested: str, n: int, threshold: int) -> str:
    """Exact search below ``threshold`` chunks, IVF above it, unless a kind is requested."""
    if requested != "auto":
        return requested
    return "ivf" if n >= threshold else "flat"


def build_faiss(vectors: np.ndarray, kind: str, previous: Any = None) -> Any:
    """A FAISS inner-product index over normalised ``vectors``.

    ``ivf`` reuses the trained centroids of ``previous`` when given, so updating a large index
    costs one pass of ``add``; it is trained anew only once the collection has grown four-fold.
    """
    import faiss
    import numpy as np

    dim = vectors.shape[1]
    n = vectors.shape[0]
    if kind == "flat" or n == 0:
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 96
    elif kind == "ivf":
        # Training needs at least one point per list: tiny collections get fewer lists.
        nlist = min(n, int(max(16, min(65536, 4 * np.sqrt(n)))))
        if (
            isinstance(previous, faiss.IndexIVF)
            and previous.d == dim
            and previous.nlist * 2 >= nlist  # else it outgrew its lists: train anew
        ):
            index = faiss.clone_index(previous)
            index.reset()
        else:
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            sample = vectors[rng.choice(n, size=min(n, nlist * 40), replace=False)]
            index.train(np.ascontiguousarray(sample))
        # Scan at least ~20k vectors (a few ms): with few vectors a list, as on collections
        # just past the threshold, nlist // 32 lists miss too many neighbours.
        index.nprobe = min(index.nlist, max(8, index.nlist // 32, -(-20_000 * index.nlist // n)))
    else:
        raise IndexStateError(f"unknown index type {kind!r}; use auto, flat, hnsw or ivf")
    if n:
        for lo in range(0, n, 65536):
            index.add(np.ascontiguousarray(vectors[lo : lo + 65536]))
    return index


def build_bm25(rows: list[ChunkRow]) -> Any:
    """A bm25s index over the stored tokens of ``rows`` (row-aligned)."""
    import bm25s

    retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
    # bm25s rejects empty documents; a placeholder token keeps rows aligned.
    corpus = [row.tokens or ["\u2400"] for row in rows] or [["\u2400"]]
    retriever.index(corpus, show_progress=False)
    return retriever


class Index(FolderStore):
    """A loaded, read-only index: the folder store (searched through :class:`FolderStore`).
    Load with :meth:`Index.load`; write with :func:`write_index`."""

    def __init__(self, path: Path, data: IndexData, faiss_index: Any, bm25: Any) -> None:
        self.path = path
        self.data = data
        self.faiss = faiss_index
        self.bm25 = bm25
        self._ids_by_hash: dict[str, list[str]] = {}  # each list sorted by id
        for doc in sorted(data.docs.values(), key=lambda d: d.id):
            self._ids_by_hash.setdefault(doc.hash, []).append(doc.id)

    @classmethod
    def load(cls, path: Path | str, embed_model: str | None = None) -> Index:
        """Load and check the index at ``path``.

        Raises IndexStateError (one line, says what to run) when it is missing, corrupt, of
        another format version, or built with another embedder than ``embed_model``. A load
        that meets a writer's swap (the folder renamed while it reads) reads again; a swap cut
        between its two renames is read from the previous folder (the next writer puts it
        back: readers never rename).
        """
        path = Path(path)
        old = _old(path)
        for attempt in range(_LOAD_TRIES):
            before = manifest_stamp(path)
            try:
                index = cls._load_at(path, embed_model)
                if manifest_stamp(path) == before:  # no swap while it read: one version throughout
                    return index
            except IndexStateError:
                moved = manifest_stamp(path) != before or old.exists()
                if not moved:
                    raise
                if attempt == _LOAD_TRIES - 1:
                    if not (path / MANIFEST).exists() and (old / MANIFEST).exists():
                        return cls._load_at(old, embed_model)
                    raise
                time.sleep(0.05)
        return cls._load_at(path, embed_model)  # swapped under every read: take this one

    @classmethod
    def _load_at(cls, path: Path, embed_model: str | None) -> Index:
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise IndexStateError(
                f"no index at {path}/; build it with `rag ingest seeds/ --index {path}`"
            )
        rebuild = f"rebuild it with `rag ingest --rebuild PATH... --index {path}`"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexStateError(
                f"the index manifest {manifest_path} is corrupt; {rebuild}"
            ) from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexStateError(
                f"the index at {path}/ has format {manifest.get('format_version')}, "
                f"this version reads {FORMAT_VERSION}; {rebuild}"
            )
        embedder = manifest["embedder"]["name"]
        if embed_model is not None:
            from rag.embeddings import canonical_name

            embed_model = canonical_name(embed_model)
        if embed_model is not None and embed_model != embedder:
            raise IndexStateError(
                f"the index at {path}/ was built with embedder {embedder!r}, not {embed_model!r}; "
                f"set RAG_EMBED_MODEL={embedder} or {rebuild}"
            )
        for name, meta in manifest["files"].items():
            file = path / name
            if not file.is_file() or file.stat().st_size != meta["size"]:
                raise IndexStateError(f"index file {file} is missing or truncated; {rebuild}")
            if meta["size"] < _SMALL_FILE and sha256_file(file) != meta["sha256"]:
                raise IndexStateError(f"index file {file} is corrupt; {rebuild}")
        try:
            return cls._read(path, manifest)
        except Exception as exc:
            raise IndexStateError(
                f"the index at {path}/ could not be read ({exc}); {rebuild}"
            ) from exc

    @classmethod
    def _read(cls, path: Path, manifest: dict[str, Any]) -> Index:
        import bm25s
        import faiss
        import numpy as np

        rows = []
        with (path / "chunks.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                row = ChunkRow(rec["h"], rec["i"], rec["s"], rec["e"], rec["t"], rec["k"])
                row.page = rec.get("p")
                rows.append(row)
        texts = {}
        with (path / "texts.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                texts[rec["h"]] = rec["t"]
        vectors = np.load(path / "vectors.npy", mmap_mode="r")
        data = IndexData(
            embed_model=manifest["embedder"]["name"],
            dim=manifest["embedder"]["dim"],
            chunk_size=manifest["chunking"]["size"],
            chunk_overlap=manifest["chunking"]["overlap"],
            index_type=manifest["index_type"],
            docs={d["id"]: DocInfo(**d) for d in manifest["documents"]},
            rows=rows,
            texts=texts,
            vectors=vectors,
        )
        if len(rows) != vectors.shape[0]:
            raise ValueError("chunk table and vectors differ in length")
        faiss_index = faiss.read_index(str(path / "faiss.index"))
        bm25 = bm25s.BM25.load(str(path / "bm25"), mmap=False)
        return cls(path, data, faiss_index, bm25)


def write_index(path: Path | str, data: IndexData, previous: Index | None = None) -> Index:
    """Build FAISS and BM25 for ``data`` in a temporary sibling folder, then swap it in."""
    import numpy as np

    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), dir=path.parent))
    except OSError as err:
        raise _unwritable(path, err) from err
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; an index is shared data
        vectors = np.ascontiguousarray(data.vectors, dtype=np.float32)
        faiss_index, bm25 = _write_files(tmp, data, vectors, previous)
        _write_manifest(tmp, data)
        for p in tmp.rglob("*"):
            if p.is_file():
                with p.open("rb") as fh:
                    os.fsync(fh.fileno())
        _swap(tmp, path)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise _unwritable(path, err) from err
        raise
    data.vectors = vectors
    return Index(path, data, faiss_index, bm25)


def _write_files(
    tmp: Path, data: IndexData, vectors: np.ndarray, previous: Index | None
) -> tuple[Any, Any]:
    """Write the vectors, chunk table, texts, FAISS and BM25 of ``data`` into ``tmp``; returns
    the FAISS and BM25 indexes built."""
    import faiss
    import numpy as np

    np.save(tmp / "vectors.npy", vectors)
    with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as fh:
        for r in data.rows:
            rec = {"h": r.hash, "i": r.i, "s": r.start, "e": r.end, "t": r.text, "k": r.tokens}
            if r.page is not None:
                rec["p"] = r.page
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with (tmp / "texts.jsonl").open("w", encoding="utf-8") as fh:
        for h in sorted(data.texts):
            fh.write(json.dumps({"h": h, "t": data.texts[h]}, ensure_ascii=False) + "\n")
    faiss_index = build_faiss(vectors, data.index_type, previous.faiss if previous else None)
    faiss.write_index(faiss_index, str(tmp / "faiss.index"))
    bm25 = build_bm25(data.rows)
    bm25.save(str(tmp / "bm25"))
    return faiss_index, bm25


def _write_manifest(tmp: Path, data: IndexData) -> None:
    """The manifest of the files in ``tmp``: what ``data`` is and a checksum of each file."""
    files = {
        p.relative_to(tmp).as_posix(): {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(tmp.rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "embedder": {"name": data.embed_model, "dim": data.dim},
        "chunking": {"size": data.chunk_size, "overlap": data.chunk_overlap},
        "index_type": data.index_type,
        "counts": {"documents": len(data.docs), "chunks": len(data.rows)},
        "documents": [asdict(d) for d in sorted(data.docs.values(), key=lambda d: d.id)],
        "files": files,
    }
    (tmp / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
    )


def _unwritable(path: Path, err: OSError) -> IndexStateError:
    return IndexStateError(
        f"cannot write the index at {path}: {err.strerror or err}; free some space or fix the "
        "folder's permissions and run it again (the previous index is unchanged)"
    )


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def remove_leftovers(path: Path | str) -> int:
    """Delete the temporary folders that writes cut short (a crash, ``kill -9``) left beside
    the index at ``path``; returns how many. Call it only while holding the write lock."""
    path = Path(path).resolve()
    stale = [p for p in path.parent.glob(f"{_tmp_prefix(path)}*") if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def _old(path: Path) -> Path:
    """Where a swap puts the previous index while it renames the new one in."""
    return path.with_name(f".{path.name}.old")


def manifest_stamp(path: Path | str) -> tuple[int, int, int] | None:
    """The identity of the index at ``path`` (its manifest's inode, mtime and size; None when
    there is none): it changes with every write, which swaps in a new folder."""
    try:
        st = (Path(path) / MANIFEST).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _swap(new: Path, path: Path) -> None:
    """Replace ``path`` by ``new``: two renames; :func:`recover` repairs a crash between them."""
    old = _old(path)
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.rename(path, old)
    os.rename(new, path)
    shutil.rmtree(old, ignore_errors=True)


def recover(path: Path | str) -> None:
    """Put back the previous index if a swap was cut between its two renames. Only writers
    call it, holding the write lock."""
    path = Path(path)
    old = _old(path)
    if not (path / MANIFEST).exists() and (old / MANIFEST).exists():
        if path.exists():
            shutil.rmtree(path)
        os.rename(old, path)
