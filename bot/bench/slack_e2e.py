"""The Slack end-to-end bench: signed events into HTTP-mode replicas over a Web API stand-in."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.bench.measure import EVAL_FILE, Row, Sizes, ms_row, row
from bot.config import REPO_ROOT

TOKEN = "xoxb-bench-token-0123456789"
SECRET = "bench-signing-secret-0123456789"
TEAM = "TBENCH"
CHANNEL = "CBENCH"
BOT_USER = "UBOT"  # what the stand-in's auth.test answers
AUTHORIZATION = {
    "team_id": TEAM,
    "user_id": BOT_USER,
    "is_bot": True,
    "is_enterprise_install": False,
}
# Far above what one bench user sends (one question each): the limiter must refuse nobody.
RATE_LIMIT = "100000/minute"
START_TIMEOUT = 120.0  # a replica builds the container (model, prompts) before it serves
WARM_TIMEOUT = 120.0  # its first question also builds the search indexes
POLL = 0.02


@dataclass
class SetupResult:
    """What one replica setup measured; times in seconds, memory in MiB."""

    replicas: int
    acks: list[float] = field(default_factory=list)
    placeholders: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    events_per_second_per_replica: float = 0.0
    rss_warm: list[float] = field(default_factory=list)
    rss_after: list[float] = field(default_factory=list)
    wall: float = 0.0


def slack_rows(env: dict[str, str], sizes: Sizes, scratch: Path) -> list[Row]:
    """Ack, placeholder and answer latency at 1 and 2 replicas, throughput and replica RSS."""
    concurrency = sizes.slack_concurrency
    questions = question_texts(sizes.slack_events)
    results = [run_setup(env, replicas, questions, concurrency, scratch) for replicas in (1, 2)]
    rows: list[Row] = []
    for result in results:
        label = "1 replica" if result.replicas == 1 else f"{result.replicas} replicas"
        rows.append(ms_row(f"slack: ack, {label}, {concurrency} concurrent", result.acks))
        rows.append(
            ms_row(f"slack: event to placeholder postMessage, {label}", result.placeholders)
        )
        rows.append(
            ms_row(
                f"slack: event to answer, {label}",
                result.answers,
                events_per_second_per_replica=round(result.events_per_second_per_replica, 2),
                events=len(result.answers),
            )
        )
    last = results[-1]
    rows.append(
        row(
            "slack: replica RSS after warm-up",
            [max(last.rss_after)],
            "MiB",
            replicas=last.replicas,
            per_replica=[round(value, 1) for value in last.rss_after],
            before_load=round(max(last.rss_warm), 1),
        )
    )
    return rows


def question_texts(count: int) -> list[str]:
    """`count` distinct questions from the eval set, so no answer comes from a cache."""
    from bot.retrieval.evaluation import load_questions

    asked = [q.question for q in load_questions(EVAL_FILE)]
    return [
        asked[n % len(asked)] + (f" ({n // len(asked)})" if n >= len(asked) else "")
        for n in range(count)
    ]


def run_setup(
    env: dict[str, str], replicas: int, questions: list[str], concurrency: int, scratch: Path
) -> SetupResult:
    """Start `replicas` HTTP-mode processes and a Web API stand-in, load them, stop them."""
    started = time.perf_counter()
    result = asyncio.run(_Load(env, replicas, questions, concurrency, scratch).run())
    result.wall = time.perf_counter() - started
    return result


def event_body(event_id: str, ts: str, user: str, text: str) -> str:
    """A signed-request body: an Events API app_mention envelope, as Slack sends it."""
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        "team": TEAM,
        "blocks": [],
    }
    return json.dumps(
        {
            "token": "unused-verification-token",
            "team_id": TEAM,
            "api_app_id": "ABENCH",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [AUTHORIZATION],
            "is_ext_shared_channel": False,
        }
    )


def signed_headers(body: str) -> dict[str, str]:
    """The headers bolt verifies (v0 HMAC of the timestamp and body with the signing secret)."""
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
            timestamp=timestamp, body=body
        ),
    }


def rss_mib(pid: int) -> float:
    """Resident memory of one process, in MiB."""
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


class _Load:
    """One event loop for everything in this process: the load, and the Web API stand-in.

    The stand-in shares the client's loop rather than running in a thread of its own, so
    the client never waits for the GIL of a second busy thread: what it times is the replicas.
    """

    def __init__(
        self,
        env: dict[str, str],
        replicas: int,
        questions: list[str],
        concurrency: int,
        scratch: Path,
    ) -> None:
        from bot.standins.slack_api import SlackAPIStub

        self.env = env
        self.questions, self.concurrency = questions, concurrency
        self.api = SlackAPIStub()
        self.ports = [_free_port() for _ in range(replicas)]
        self.logs = [scratch / f"slack-bench-{replicas}r-{n}.log" for n in range(replicas)]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.setup = f"{replicas}r"  # ids, users and threads differ between setups
        self.result = SetupResult(replicas)
        self.session: Any = None  # the client's aiohttp session, while the load runs
        self.first_sent = 0.0

    async def run(self) -> SetupResult:
        import aiohttp
        from aiohttp import web

        runner = web.AppRunner(self.api.application(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.api.port = runner.addresses[0][1]
            self._start_replicas()
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                self.session = session
                await self._wait_serving()
                await self._warm_up()
                self.result.rss_warm = [rss_mib(p.pid) for p in self.processes]
                posts_before = len(self.api.of("chat.postMessage"))
                updates_before = len(self.api.of("chat.update"))
                sent_at = await self._burst()
                await self._wait_answers(updates_before + len(sent_at), sent_at)
            self._collect(sent_at, posts_before)
            self.result.rss_after = [rss_mib(p.pid) for p in self.processes]
        finally:
            await self._stop_replicas()  # the stand-in keeps answering while they drain
            await runner.cleanup()
            self.api.stop()
        return self.result

    def _start_replicas(self) -> None:
        env = {
            **self.env,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.api.base_url,
            "STUDYBOT_RATE_LIMIT": RATE_LIMIT,
        }
        env.pop("SLACK_APP_TOKEN", None)
        for port, log in zip(self.ports, self.logs, strict=True):
            command = [sys.executable, "-m", "bot", "run", "slack", "--http", "--port", str(port)]
            with log.open("wb") as stderr:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        cwd=REPO_ROOT,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=stderr,
                    )
                )

    async def _stop_replicas(self, grace: float = 30.0) -> None:
        """SIGTERM (they finish what is in flight), then SIGKILL past the grace period."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace
        while any(p.poll() is None for p in self.processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    async def _post(self, port: int, body: str) -> tuple[int, float, float]:
        """Deliver one signed event: (HTTP status, when it was sent, when the ack arrived)."""
        url = f"http://127.0.0.1:{port}/slack/events"
        headers = signed_headers(body)
        sent = time.monotonic()
        async with self.session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status, sent, time.monotonic()

    def _check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(
                    f"a Slack replica exited with status {process.returncode}:\n{_tail(log)}"
                )

    async def _wait_serving(self) -> None:
        import aiohttp

        deadline = time.monotonic() + START_TIMEOUT
        for port in self.ports:
            while True:
                self._check_alive()
                try:
                    async with self.session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"a Slack replica did not serve within {START_TIMEOUT:.0f} s:\n"
                        + _tail(self.logs[self.ports.index(port)])
                    )
                await asyncio.sleep(0.2)

    async def _warm_up(self) -> None:
        """One question per replica, answered before the load: its indexes are built."""
        for number, port in enumerate(self.ports, start=1):
            body = event_body(
                f"EvWarm{self.setup}{number}",
                f"{number}.5",
                f"UWARM{self.setup}{number}",
                f"what is raft? (warm-up {number})",
            )
            status, _, _ = await self._post(port, body)
            if status != 200:
                raise RuntimeError(f"the warm-up event got HTTP {status}")
            await self._until(
                lambda n=number: len(self.api.of("chat.update")) >= n, WARM_TIMEOUT, "warm-up"
            )

    async def _burst(self) -> dict[str, float]:
        """`concurrency` senders post every question, each event to one replica in turn."""
        pending = list(enumerate(self.questions))
        pending.reverse()
        sent_at: dict[str, float] = {}  # the event's ts (its reply thread) -> when it was sent
        statuses: list[int] = []

        async def sender() -> None:
            while pending:
                index, question = pending.pop()
                ts = f"{10_000 + index}.100"
                body = event_body(
                    f"EvBench{self.setup}{index}", ts, f"UB{self.setup}{index:05d}", question
                )
                status, sent, acked = await self._post(self.ports[index % len(self.ports)], body)
                sent_at[ts] = sent
                self.result.acks.append(acked - sent)
                statuses.append(status)

        self.first_sent = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(self.concurrency)))
        refused = [status for status in statuses if status != 200]
        if refused:
            raise RuntimeError(f"{len(refused)} of {len(statuses)} events not acked with 200")
        return sent_at

    async def _wait_answers(self, updates: int, sent_at: dict[str, float]) -> None:
        timeout = max(120.0, 1.0 * len(sent_at))  # answers are CPU-bound: ~1 s each, worst case

        def done() -> bool:
            if self.api.of("chat.postEphemeral"):
                raise RuntimeError("the rate limiter refused a bench event; raise RATE_LIMIT")
            return len(self.api.of("chat.update")) >= updates

        await self._until(done, timeout, f"answers to {len(sent_at)} events")

    async def _until(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self._check_alive()
            if time.monotonic() > deadline:
                updates = len(self.api.of("chat.update"))
                raise TimeoutError(
                    f"Slack bench: {what} not done within {timeout:.0f} s "
                    f"({updates} chat.update calls so far):\n{_tail(self.logs[0])}"
                )
            await asyncio.sleep(POLL)

    def _collect(self, sent_at: dict[str, float], posts_before: int) -> None:
        """Match each event to its placeholder (by thread) and its answer (by placeholder)."""
        calls = list(self.api.calls)
        thread_of: dict[str, str] = {}
        posted: dict[str, float] = {}
        answered: dict[str, float] = {}
        posts = 0
        for method, params, at in calls:
            if method == "chat.postMessage":
                # The stand-in numbers posted messages 1.000, 2.000, ... in arrival order.
                posts += 1
                thread = str(params.get("thread_ts"))
                thread_of[f"{posts}.000"] = thread
                if posts > posts_before:
                    posted.setdefault(thread, at)
            elif method == "chat.update":
                thread = thread_of.get(str(params.get("ts")), "")
                if thread in sent_at:
                    answered.setdefault(thread, at)
        missing = set(sent_at) - set(answered)
        if missing:
            raise RuntimeError(f"Slack bench: {len(missing)} events got no answer")
        self.result.placeholders = [posted[ts] - sent_at[ts] for ts in sent_at]
        self.result.answers = [answered[ts] - sent_at[ts] for ts in sent_at]
        span = max(answered.values()) - self.first_sent
        self.result.events_per_second_per_replica = len(sent_at) / span / len(self.ports)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"
