"""The one settings object: flags > NEWSRAG_* environment > config file > defaults."""
from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

CHAT_AUTH = ("key", "public")


@dataclass(frozen=True)
class Settings:
    # where the index lives
    data_dir: Path = Path(".newsrag")
    collection: str = "news"
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8000 -> chromadb.HttpClient
    # postgresql://user@host:5432/db -> the catalog on PostgreSQL (several hosts), else SQLite
    catalog_url: str | None = None
    # embedding and chunking
    embedder: str = "minilm"  # a name in rag.embedders.EMBEDDERS
    embedder_model: str | None = None  # path or hub name; None = the packaged model
    embed_batch: int = 64
    encoding: str = "cl100k_base"
    chunk_tokens: int = 200  # tiktoken tokens per chunk, before the headline prefix
    chunk_overlap: int = 30
    max_file_bytes: int = 50_000_000
    ingest_batch_chunks: int = 1024  # chunks embedded and committed together
    near_dup_threshold: float = 0.8
    # vector files (rag/vector_files.py) whose vectors an ingest reuses instead of embedding;
    # NEWSRAG_VECTOR_FILES: comma-separated paths
    vector_files: tuple[str, ...] = ()
    # retrieval
    top_k: int = 6
    candidates: int = 40
    rrf_k: int = 60
    per_article_cap: int = 2
    reranker_model: str | None = None
    min_relevance: float = 0.2
    # newer news rises: x(1 + weight * 2^(-age / half-life)). "Latest" questions: 0.5 and two
    # weeks; the others, when they name no dates of their own: the prior (docs/eval/README.md)
    recency_prior: float = 0.5
    recency_prior_half_life_days: float = 365.0
    # answering
    answerer: str = "extractive"  # extractive | learned | openai | llamacpp
    answer_model: str | None = None  # the learned answerer's model file; None = the packaged one
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_context_tokens: int = 3000
    llm_timeout: float = 60.0
    llamacpp_model_path: str | None = None
    judge: str = "learned"  # learned (the checker's own) | llm | nli
    judge_model: str | None = None
    # the support judge's cut (a probability); None = the one learned with its model file
    support_threshold: float | None = None
    # serving
    host: str = "127.0.0.1"
    port: int = 7860
    cors_origins: tuple[str, ...] = ()
    api_key: str | None = None
    # with an api_key: "key" = the chat page asks for it too, "public" = the chat stays open
    chat_auth: str = "key"
    # proxies (IPs or networks, e.g. 10.0.0.0/8) whose X-Forwarded-For names the client
    trusted_proxies: tuple[str, ...] = ()
    rate_limit_per_minute: int = 60
    max_body_bytes: int = 32_768
    max_push_bytes: int = 1_000_000  # POST /api/articles: an article or a page (docs/push.md)
    max_question_chars: int = 1000
    # following feeds (`newsrag watch`, `newsrag serve --watch`; docs/watch.md)
    feeds: tuple[str, ...] = ()  # feed, sitemap or page URLs; NEWSRAG_FEEDS: comma-separated
    watch: bool = False  # `newsrag serve` also follows the feeds
    watch_every: str = "15m"  # poll interval: 90s, 15m, 1h30m
    watch_timeout: float = 20.0  # seconds per request (connect, each read, and in total)
    watch_max_bytes: int = 10_000_000  # per response, after decompression
    watch_delay: float = 1.0  # seconds between two requests to one host
    watch_per_host: int = 1  # requests at a time per host (1 or 2)
    watch_retries: int = 3  # retries of a 5xx, a timeout or a connection error, in one fetch
    watch_backoff: float = 0.5  # seconds before the first of them, doubling each time
    watch_retry_after: float = 300.0  # an item that failed waits this long, doubling per try
    watch_dead_after: int = 3  # tries of an item page answering 404/410 before it is dead
    watch_max_tries: int = 8  # tries of an item before it counts as failed
    watch_allow_private: bool = False  # feed links to other hosts on private addresses
    watch_flush_items: int = 32  # items embedded and committed together
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        object.__setattr__(self, "vector_files", tuple(str(p) for p in self.vector_files))
        if not (math.isfinite(self.recency_prior) and self.recency_prior >= 0):
            raise ConfigError("Setting 'recency_prior' must be 0 (off) or more; got "
                              f"{self.recency_prior!r}")
        if not (math.isfinite(self.recency_prior_half_life_days)
                and self.recency_prior_half_life_days > 0):
            raise ConfigError("Setting 'recency_prior_half_life_days' must be more than 0 days; "
                              f"got {self.recency_prior_half_life_days!r}")
        if self.chat_auth not in CHAT_AUTH:
            raise ConfigError(f"Setting 'chat_auth' must be one of {', '.join(CHAT_AUTH)}; "
                              f"got {self.chat_auth!r}")
        object.__setattr__(self, "feeds", tuple(self.feeds))
        if self.catalog_url and not str(self.catalog_url).startswith(("postgresql://",
                                                                      "postgres://")):
            raise ConfigError("Setting 'catalog_url' expects a postgresql://user@host:port/db URL "
                              "(leave it unset for the SQLite catalog in the data folder)")
        if self.watch_per_host not in (1, 2):
            raise ConfigError("Setting 'watch_per_host' must be 1 or 2 (requests at a time per "
                              f"host); got {self.watch_per_host!r}")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"Setting 'trusted_proxies' expects IP addresses or networks "
                                  f"such as 10.0.0.0/8; got {proxy!r}") from None

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def catalog_where(self) -> str:
        """The catalog, as messages may name it: a PostgreSQL URL without its password."""
        if self.catalog_url:
            from rag.storage import redacted_url

            return redacted_url(self.catalog_url)
        return str(self.catalog_path)

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def bm25_path(self) -> Path:
        """The in-memory BM25's saved postings (a cache of the catalog's chunks)."""
        return self.data_dir / "bm25"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        config_path: str | Path | None = None,
    ) -> Settings:
        """Merge the sources; flags whose value is None are treated as not given."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_path or env.get("NEWSRAG_CONFIG")
        if path is None and Path("newsrag.toml").is_file():
            path = "newsrag.toml"
        if path:
            values.update(_read_config(Path(path)))
        for f in fields(cls):
            key = "NEWSRAG_" + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = env[key]
        for k, v in (flags or {}).items():
            if v is not None:
                values[k] = v
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            valid = ", ".join(f.name for f in fields(cls))
            raise ConfigError(f"Unknown setting(s) {unknown}. Valid settings are: {valid}")
        return cls(**{k: _coerce(k, v) for k, v in values.items()})


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"Config file {path} is not valid TOML: {e}") from None
    return dict(data.get("newsrag", data))


_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    kind = str(_TYPES.get(name, ""))
    try:
        if kind == "Path":
            return Path(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "float | None" and not (isinstance(value, str) and value.lower() in ("none", "null")):
            return None if value is None else float(value)
        if kind == "bool" and isinstance(value, str):
            if value.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(value)
            return value.strip().lower() in ("1", "true", "yes", "on")
        if kind.startswith("tuple") and isinstance(value, str):
            return tuple(v.strip() for v in value.replace("\n", ",").split(",") if v.strip())
        if kind.startswith("tuple"):
            return tuple(value)
        if "None" in kind and isinstance(value, str) and value.lower() in ("none", "null"):
            return None
    except (TypeError, ValueError):
        raise ConfigError(f"Setting {name!r} expects {kind}, got {value!r}") from None
    return value
