"""Speed of the built-in models with llama.cpp on this machine.

For each built-in model: load time, prompt processing (tokens/s on a ~400-token prompt),
generation (tokens/s), and the cached-prefix effect (time to first token of a prompt sharing a
long system prefix with the previous one, versus the same prompt on a cleared cache).
``--sweep`` also times prompt processing across n_batch / n_ubatch / n_threads_batch values.

    .venv/bin/python benchmarks/bench_models.py [--models NAME ...] [--sweep] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.llm import LlamaCppLLM  # noqa: E402
from rag.models import BUILTIN_MODELS, resolve_model  # noqa: E402
from rag.settings import get_settings  # noqa: E402

PASSAGE = (
    "Pemerintah provinsi mengumumkan bahwa pembangunan jalan tol baru akan dimulai bulan depan "
    "setelah proses pembebasan lahan selesai. The regional government said the new toll road "
    "will shorten travel between the two cities by almost an hour, according to the minister. "
)
SYSTEM = (
    "You answer questions about news articles using only the numbered passages below. "
    "Cite passages as [n]. If the passages do not contain the answer, say you do not know.\n\n"
    + "\n".join(f"[{i}] {PASSAGE}" for i in range(1, 7))
)
QUESTIONS = ("When does construction of the toll road start?", "Who made the announcement?")
PROMPT_TOKENS = 400
GEN_TOKENS = 64


def _prompt_tokens(llm: LlamaCppLLM, n: int) -> list[int]:
    tokens = llm._llama.tokenize((PASSAGE * 20).encode(), add_bos=False)
    return tokens[:n]


def prompt_speed(llm: LlamaCppLLM, n: int = PROMPT_TOKENS, repeat: int = 2) -> float:
    """Prompt tokens per second: evaluate ``n`` tokens on an empty cache (median of runs)."""
    tokens = _prompt_tokens(llm, n)
    times = []
    for _ in range(repeat):
        llm._llama.reset()
        start = time.perf_counter()
        llm._llama.eval(tokens)
        times.append(time.perf_counter() - start)
    llm._llama.reset()
    return n / statistics.median(times)


def generation_speed(llm: LlamaCppLLM, n: int = GEN_TOKENS) -> float:
    """Generated tokens per second after the first token (greedy, eos ignored)."""
    llama = llm._llama
    llama.reset()
    tokens = llama.tokenize(b"Once upon a time, in a small village by the sea,", add_bos=False)
    start = 0.0
    for count, _ in enumerate(llama.generate(tokens, temp=0.0), start=1):
        if count == 1:
            start = time.perf_counter()
        elif count > n:
            break
    elapsed = time.perf_counter() - start
    llama.reset()
    return n / elapsed


def first_token_s(llm: LlamaCppLLM, question: str) -> float:
    """Seconds until the first streamed piece of the answer to ``question`` (with SYSTEM)."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    start = time.perf_counter()
    stream = llm.stream(messages, max_tokens=8, temperature=0.0)
    next(stream)
    elapsed = time.perf_counter() - start
    stream.close()
    return elapsed


def prefix_effect(llm: LlamaCppLLM, repeat: int) -> tuple[float, float, int]:
    """Median time to first token without and with the shared system prefix cached."""
    cold, warm = [], []
    for _ in range(repeat):
        llm._llama.reset()
        cold.append(first_token_s(llm, QUESTIONS[1]))
        llm._llama.reset()
        first_token_s(llm, QUESTIONS[0])  # leaves SYSTEM in the KV cache
        warm.append(first_token_s(llm, QUESTIONS[1]))
    return statistics.median(cold), statistics.median(warm), llm.count_tokens(SYSTEM)


def bench_model(name: str, threads: int, repeat: int) -> None:
    """Print the standard numbers for one built-in model."""
    settings = get_settings(model=name)
    start = time.perf_counter()
    path = resolve_model(settings, progress=True)
    resolve_s = time.perf_counter() - start
    start = time.perf_counter()
    llm = LlamaCppLLM(path, n_ctx=4096, n_threads=threads, n_batch=512)
    load_s = time.perf_counter() - start
    pp = prompt_speed(llm, repeat=repeat)
    tg = generation_speed(llm)
    cold, warm, prefix = prefix_effect(llm, repeat)
    llm.close()
    print(
        f"{name:20} resolve {resolve_s:5.2f}s  load {load_s:5.2f}s  "
        f"prompt {pp:6.1f} tok/s  gen {tg:5.1f} tok/s  "
        f"first token ({prefix}-token shared prefix): cold {cold:5.2f}s, cached {warm:5.2f}s  "
        f"(load avg {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def sweep(name: str, threads: int, repeat: int) -> None:
    """Prompt tokens/s for several batch and thread settings, measured in interleaved rounds
    (best of ``repeat``) so a burst of load from other processes hits every setting alike."""
    path = resolve_model(get_settings(model=name), progress=True)
    configs = [(b, b, threads) for b in (64, 128, 256, 512)]
    configs += [(512, u, threads) for u in (128, 256)]
    configs += [(512, 512, t) for t in range(1, threads)] + [(512, 512, threads * 2)]
    llms = {
        c: LlamaCppLLM(
            path, n_ctx=2048, n_threads=threads, n_threads_batch=c[2], n_batch=c[0], n_ubatch=c[1]
        )
        for c in configs
    }
    speeds: dict[tuple[int, int, int], list[float]] = {c: [] for c in configs}
    for _ in range(repeat):
        for c, llm in llms.items():
            speeds[c].append(prompt_speed(llm, repeat=1))
    for llm in llms.values():
        llm.close()
    print(f"{name}: prompt tokens/s on {PROMPT_TOKENS} tokens (best of {repeat})", flush=True)
    for (n_batch, n_ubatch, n_threads_batch), got in speeds.items():
        print(
            f"  n_batch {n_batch:4}  n_ubatch {n_ubatch:4}  n_threads_batch {n_threads_batch:2}"
            f"  -> {max(got):6.1f} tok/s   (runs: {', '.join(f'{v:.0f}' for v in got)})",
            flush=True,
        )


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=list(BUILTIN_MODELS))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="also sweep batch/thread settings")
    parser.add_argument("--sweep-only", action="store_true", help="only the sweep")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, n_threads={args.threads}, load average {load}", flush=True)
    if not args.sweep_only:
        for name in args.models:
            bench_model(name, args.threads, args.repeat)
    if args.sweep or args.sweep_only:
        for name in args.models:
            sweep(name, args.threads, args.repeat)


if __name__ == "__main__":
    main()
