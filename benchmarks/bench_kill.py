"""``kill -9`` at random moments of an ingest: every trial must leave an index that loads and
holds exactly the documents of before or of after, and the next write must remove what the
killed one left behind.

Each trial restores the same "before" index (the five seed articles), starts
``rag ingest EXTRA --index ...`` in a subprocess (EXTRA: ``--passages`` FacQA passages as one
JSONL file), and sends it SIGKILL. Odd trials kill after a uniformly random delay between 0 and
1.1x the length of an uninterrupted run (start-up, reading, embedding); even trials wait until
the progress bar shows every chunk embedded and kill within the next ``--write-window`` seconds
(default 1.2x that phase of an uninterrupted run), where the index is built, written and swapped
in. Then,
in this process: load the index and compare its document ids with both sets; count temporary
folders left beside it; run the same ingest to the end and check that it holds "after" and that
no temporary folder is left. Prints one line per trial and a summary; exits 1 on any bad trial.

    .venv/bin/python benchmarks/bench_kill.py --trials 20
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.errors import RagError  # noqa: E402
from rag.store.folder.index import Index, _tmp_prefix  # noqa: E402

RAG = [sys.executable, "-m", "rag.cli"]


def ingest_cmd(source: Path, index: Path) -> list[str]:
    """The ``rag ingest`` command line of a trial."""
    return [*RAG, "ingest", str(source), "--index", str(index)]


def doc_ids(index: Path) -> frozenset[str] | str:
    """The document ids of the index at ``index``, or why it does not load."""
    try:
        return frozenset(d.id for d in Index.load(index).documents())
    except RagError as exc:
        return f"does not load: {exc}"


def wait_embedded(proc: subprocess.Popen[bytes]) -> float:
    """Seconds until ``rag ingest``'s progress bar shows every chunk embedded (or it exits)."""
    started, seen = time.perf_counter(), ""
    assert proc.stderr is not None
    while proc.poll() is None:
        part = os.read(proc.stderr.fileno(), 4096).decode("utf-8", "replace")
        if not part:
            break
        seen = (seen + part)[-400:]
        if re.search(r"\b(\d+)/\1 \[", seen):
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    return time.perf_counter() - started


def leftovers(index: Path) -> int:
    """Temporary folders beside ``index``."""
    return sum(1 for p in index.parent.glob(f"{_tmp_prefix(index)}*") if p.is_dir())


def main() -> int:
    """Run the trials; 0 when every one passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--passages", type=int, default=150, help="FacQA passages added")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--write-window",
        type=float,
        default=0.0,
        help="seconds after embedding for late kills (default: 1.2x what an uninterrupted "
        "ingest takes there)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_kill_"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        extra = work / "extra.jsonl"
        with (ROOT / "bench" / "facqa" / "corpus.jsonl").open(encoding="utf-8") as src:
            lines = [next(src) for _ in range(args.passages)]
        extra.write_text("".join(lines), encoding="utf-8")
        pristine = work / "before"
        subprocess.run(
            [*RAG, "ingest", str(ROOT / "seeds"), "--index", str(pristine)],
            env=env,
            check=True,
            capture_output=True,
        )
        before = doc_ids(pristine)
        after_dir = work / "after"
        shutil.copytree(pristine, after_dir)
        started = time.perf_counter()
        proc = subprocess.Popen(
            ingest_cmd(extra, after_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        embedded_s = wait_embedded(proc)
        assert proc.wait() == 0
        full_s = time.perf_counter() - started
        window = args.write_window or 1.2 * (full_s - embedded_s)
        after = doc_ids(after_dir)
        assert isinstance(before, frozenset) and isinstance(after, frozenset)
        print(
            f"before: {len(before)} documents; after: {len(after)}; an uninterrupted ingest "
            f"takes {full_s:.1f} s, {full_s - embedded_s:.1f} s of it after the last chunk is "
            f"embedded (late kills land within {window:.1f} s of that point)"
        )
        outcomes = {"before": 0, "after": 0, "bad": 0}
        left_total = 0
        for trial in range(1, args.trials + 1):
            index = work / f"trial{trial}" / "index"
            shutil.copytree(pristine, index)
            late = trial % 2 == 0
            proc = subprocess.Popen(
                ingest_cmd(extra, index), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if late:  # after the last chunk is embedded: building, writing, swapping
                embedded = wait_embedded(proc)
                delay = embedded + rng.uniform(0.0, window)
                time.sleep(delay - embedded)
            else:
                threading.Thread(target=proc.stderr.read, daemon=True).start()  # type: ignore[union-attr]
                delay = rng.uniform(0.0, 1.1 * full_s)
                time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            found = doc_ids(index)
            state = "before" if found == before else "after" if found == after else "bad"
            left = leftovers(index)
            left_total += left
            subprocess.run(ingest_cmd(extra, index), env=env, check=True, capture_output=True)
            healed = doc_ids(index) == after and leftovers(index) == 0
            if not healed:
                state = "bad"
            outcomes[state] += 1
            shown = found if isinstance(found, str) else f"{len(found)} documents"
            print(
                f"trial {trial:2d}: kill at {delay:5.1f} s{' (already done)' if finished else ''}"
                f" -> {state} ({shown}); temporary folders left {left}; "
                f"next write {'cleaned up and completed' if healed else 'FAILED'}",
                flush=True,
            )
            shutil.rmtree(index.parent, ignore_errors=True)
        print(
            f"\n{args.trials} trials: {outcomes['before']} before, {outcomes['after']} after, "
            f"{outcomes['bad']} bad; kills left {left_total} temporary folders"
        )
        return 1 if outcomes["bad"] else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
