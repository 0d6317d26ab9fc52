"""Writers of one index are serialised across processes (a lock file beside the folder), a
killed holder does not leave the lock stuck, and the next write removes what a cut-short write
left behind. Real processes, not threads."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, article, write_articles

from rag.index import Index
from rag.ingest import ingest, write_lock
from rag.settings import Settings

# One writer process: ingests one folder with a fake embedder that takes its time, so that two
# writers started together overlap for the whole of their read-build-swap.
WRITER = r"""
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
import rag.embeddings
from conftest import FAKE, FakeEmbedder
from rag.ingest import ingest
from rag.settings import get_settings

class SlowEmbedder(FakeEmbedder):
    def embed_passages(self, texts):
        time.sleep(1.5)
        return super().embed_passages(texts)

rag.embeddings._cache[FAKE] = SlowEmbedder()
settings = get_settings(index_dir=sys.argv[2], embed_model=FAKE, chunk_size=200, chunk_overlap=0)
ingest([sys.argv[3]], settings)
"""

# Takes the write lock, says so, then waits to be killed.
HOLDER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from rag.ingest import write_lock
with write_lock(sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def _python(script: str, *args: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(ROOT), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_writer_processes_both_land(tmp_path: Path, settings: Settings) -> None:
    ingest([write_articles(tmp_path / "base", {"base.txt": article(0)})], settings)
    folders = [write_articles(tmp_path / f"w{i}", {f"w{i}.txt": article(i + 1)}) for i in (1, 2)]
    writers = [_python(WRITER, settings.index_dir, folder) for folder in folders]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    ids = {d.id for d in Index.load(settings.index_dir, settings.embed_model).documents()}
    assert ids == {"base.txt", "w1.txt", "w2.txt"}  # neither write dropped the other's


def test_a_killed_holder_releases_the_lock(tmp_path: Path, settings: Settings) -> None:
    holder = _python(HOLDER, settings.index_dir)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        holder.kill()  # SIGKILL: no chance to unlock
        holder.wait(timeout=30)
    started = time.monotonic()
    ingest([write_articles(tmp_path / "docs", {"a.txt": article(1)})], settings)
    assert time.monotonic() - started < 30
    assert [d.id for d in Index.load(settings.index_dir, settings.embed_model).documents()] == [
        "a.txt"
    ]


def test_next_write_removes_leftovers_of_a_cut_short_write(
    tmp_path: Path, settings: Settings, corpus: Path
) -> None:
    ingest([corpus], settings)
    index_dir = Path(settings.index_dir).resolve()
    leftover = index_dir.with_name(f".{index_dir.name}.tmp-killed")
    leftover.mkdir()
    (leftover / "vectors.npy").write_bytes(b"half a file")
    with write_lock(index_dir):
        pass
    assert not leftover.exists()
    assert len(Index.load(index_dir, settings.embed_model).documents()) == 5


def test_a_writer_that_must_wait_says_so(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    holder = _python(HOLDER, settings.index_dir)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        threading.Timer(1.0, holder.kill).start()  # let the writer wait a moment
        with caplog.at_level("WARNING", logger="rag.ingest"):
            ingest([write_articles(tmp_path / "docs", {"a.txt": article(1)})], settings)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert "waiting for another ingest or removal" in caplog.text
