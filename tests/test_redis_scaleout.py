"""Redis Cluster and Sentinel: every key pattern on 3 masters; a Sentinel failover in place."""

import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import redis
from redis.cluster import RedisCluster

from bot.config import PushSettings, RedisSettings, Settings
from bot.core.assistant import HISTORY_UNAVAILABLE
from bot.core.errors import StateUnavailableError
from bot.core.models import Address, Incoming
from bot.core.trace import Trace
from bot.quiz.bank import MultipleChoice, QuickCheck
from bot.quiz.service import POINTS, UNAVAILABLE
from bot.resilience import Breaker, BreakerOpenError
from bot.schedule.outbox import DeliveryError
from bot.schedule.pushes import Subscription, parse_days
from bot.schedule.worker import arq_redis_settings
from bot.state.conversations import ConversationStore
from bot.state.redis_client import SentinelTarget, limits_storage, transaction
from bot.wiring import Container
from tests.conftest import COURSE, free_port, redis_binary, student

pytestmark = pytest.mark.slow

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TICK_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # every subscription here is due


@pytest.fixture
def cluster_settings(redis_cluster, indexed_data_dir, models_dir, tmp_path):
    """Settings for a bot on the 3-master cluster, with this test's own key prefix."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    return Settings(
        data_dir=indexed_data_dir,
        models_path=models_dir,
        redis=RedisSettings(url=redis_cluster, key_prefix=prefix),
        push=PushSettings(attempts=2, backoff_seconds=0.01, outbox_file=tmp_path / "out.jsonl"),
        rate_limit="3/minute",
    )


@pytest.fixture
def cluster_app(cluster_settings):
    app = Container(cluster_settings)
    assert isinstance(app.redis, RedisCluster)
    app.quiz.clock = lambda: NOW
    return app


def keys_per_node(app):
    """The test's keys on each master: (node name -> count), and every key seen."""
    prefix = app.settings.redis.key_prefix
    counts, seen = {}, []
    for node in app.redis.get_primaries():
        found = list(app.redis.get_redis_connection(node).scan_iter(match=f"{prefix}:*"))
        counts[node.name] = len(found)
        seen.extend(found)
    return counts, seen


def assert_spread_and_tagged(app):
    """Keys land on at least two of the three masters, and every key carries a hash tag."""
    counts, seen = keys_per_node(app)
    assert len(counts) == 3 and sum(n > 0 for n in counts.values()) >= 2, counts
    prefix = app.settings.redis.key_prefix
    # limits' keys are single-key Lua calls of their own; every other key names its slot.
    untagged = [k for k in seen if "{" not in k and not k.startswith(f"{prefix}:limits:")]
    assert untagged == []
    # CLUSTER COUNTKEYSINSLOT agrees with the scan on some slot.
    key = next(k for k in seen if "{" in k)
    node = app.redis.get_node_from_key(key)
    slot = app.redis.keyslot(key)
    in_slot = app.redis.get_redis_connection(node).execute_command("CLUSTER COUNTKEYSINSLOT", slot)
    assert int(in_slot) >= 1
    return counts


def account(user, platform="slack", tenant="T1", name=""):
    return Incoming(Address(platform, tenant, "C1"), user, "quiz", "t", display_name=name)


def multiple_choice(app):
    bank = app.catalog.quiz_bank(COURSE)
    return [item for item in bank.items.values() if isinstance(item, MultipleChoice)]


def right_letter(prompt, item):
    """The letter the right option has in the order this student was shown."""
    return "abcde"[prompt.options.index(item.answer)]


def review(app, who, offset=0):
    """One right multiple-choice answer to an item this student has not seen."""
    item = multiple_choice(app)[app.quiz.stats(who, COURSE).cards + offset]
    prompt = app.quiz.next_prompt(who, COURSE, item_id=item.id)
    return app.quiz.answer(who, prompt.prompt_id, right_letter(prompt, item))


# -- Cluster ------------------------------------------------------------------------------


def test_asking_keeps_every_kind_of_state_on_a_cluster(cluster_app):
    app = cluster_app
    console = Address("console", "test")
    history = ConversationStore(app.redis, app.keys, app.settings.conversation)

    # Conversation turns, then a follow-up that reads them.
    first = app.assistant.ask(student("why add randomness to retry delays", thread="h1"))
    assert first.in_scope and HISTORY_UNAVAILABLE not in first.notes
    app.assistant.ask(student("and what about timeouts?", thread="h1"))
    assert len(history.load("console:test", "U1", "h1")[0]) == 4

    # A pending template, filled by the next message in the same thread.
    asked = app.assistant.ask(student("What's the CAP strategy for a chat app?", thread="p1"))
    assert asked.template.missing == ["data_types"]
    filled = app.assistant.ask(student("messages, presence and read receipts", thread="p1"))
    assert filled.template.missing == []
    assert filled.template.slots["data_types"] == ["messages", "presence", "read receipts"]

    # Content gaps: a MULTI/EXEC over the tenant's two gap keys.
    for text in (
        "What's a good recipe for banana bread?",
        "what's a good recipe for banana bread?",
    ):
        assert not app.assistant.ask(student(text)).in_scope
    assert [(g.question, g.count) for g in app.assistant.gaps(console)] == [
        ("what's a good recipe for banana bread?", 2)
    ]

    # Traces, feedback and a course per channel, across several tenants.
    for platform, tenant in (("slack", "T1"), ("discord", "G1"), ("slack", "T2")):
        address = Address(platform, tenant, "C1")
        trace = Trace("test", f"r-{tenant}")
        reply = app.assistant.ask(Incoming(address, "U9", "what is a quorum", "t9"), trace=trace)
        app.assistant.keep_trace(address, "U9", trace)
        assert "No recent request" not in app.assistant.explain_last(address, "U9")
        app.assistant.rate_answer(address, "U9", reply.id, helpful=False, reason=f"{tenant} ok")
        app.assistant.set_course(address, COURSE, is_admin=True, channel=True)
        assert app.assistant.course_for(Incoming(address, "U9", "x", "t")) == COURSE
    rated = app.feedback.rated(not_helpful_only=True)
    assert sorted(r.reason for r in rated) == ["G1 ok", "T1 ok", "T2 ok"]

    app.assistant.reset(student("", thread="h1"))
    assert history.load("console:test", "U1", "h1")[0] == []
    assert_spread_and_tagged(app)


def test_quizzes_groups_and_links_on_a_cluster(cluster_app):
    app = cluster_app
    ada, bob = account("U1", name="Ada"), account("U2", name="Bob")
    cat = account("42", "discord", "G1", name="cat#1")
    a, b = app.quiz.person(ada), app.quiz.person(bob)

    # Groups live under the tenant's tag; each person's cards under their own.
    groups = app.quiz.groups
    groups.create("slack:T1", a, "Raft Fans", NOW)
    groups.join("slack:T1", b, "Raft Fans")
    review(app, ada)
    review(app, ada)
    review(app, bob)

    # A quick check: answered, then rated, each a WATCH + MULTI/EXEC on one slot.
    quick = next(
        i for i in app.catalog.quiz_bank(COURSE).items.values() if isinstance(i, QuickCheck)
    )
    prompt = app.quiz.next_prompt(bob, COURSE, item_id=quick.id)
    assert app.quiz.answer(bob, prompt.prompt_id, quick.model_answer).rating is None
    assert app.quiz.rate(bob, prompt.prompt_id, "good").rating == "good"
    assert app.quiz.rate(bob, prompt.prompt_id, "easy").duplicate

    # Racing answers to one prompt: WATCH makes exactly one of them count.
    item = multiple_choice(app)[10]
    prompt = app.quiz.next_prompt(ada, COURSE, item_id=item.id)
    results = []
    racers = [
        threading.Thread(
            target=lambda: results.append(
                app.quiz.answer(ada, prompt.prompt_id, right_letter(prompt, item))
            )
        )
        for _ in range(4)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert Counter(r.duplicate for r in results) == Counter({True: 3, False: 1})

    stats = app.quiz.stats(ada, COURSE)
    assert (stats.cards, stats.reviewed_today, stats.streak, stats.points) == (3, 3, 1, 6)
    week = groups.leaderboard("slack:T1", "Raft Fans", "week", NOW.date())
    assert [(s.name, s.points) for s in week] == [("Ada", 6), ("Bob", 4)]
    assert groups.streak("slack:T1", "Raft Fans", NOW.date()) == 1
    for key in app.redis.scan_iter(match=f"{app.keys.tenant('slack:T1')}:group:*:lb:*"):
        app.redis.delete(key)
    assert groups.rebuild("slack:T1", {r.name.lower(): p for r, p in POINTS.items()}) == 1
    assert groups.leaderboard("slack:T1", "Raft Fans", "all", NOW.date()) == week

    # Linking: two persons on two slots merge step by step, not in one transaction.
    review(app, cat, offset=5)
    code = app.quiz.link_code(ada)
    assert app.quiz.redeem_link(cat, code) == a
    assert app.quiz.person(cat) == a
    merged = app.quiz.stats(cat, COURSE)
    assert (merged.cards, merged.reviewed_today) == (4, 4)
    groups.leave("slack:T1", b, "Raft Fans")
    board = groups.leaderboard("slack:T1", "Raft Fans", "all", NOW.date())
    assert [s.person for s in board] == [a]

    # A transaction that strays off its slot is refused whole, never half-applied.
    prefix = app.settings.redis.key_prefix
    here, there = f"{prefix}:{{slot-a}}:x", f"{prefix}:{{slot-b}}:y"
    assert app.redis.keyslot(here) != app.redis.keyslot(there)
    with pytest.raises(redis.RedisError), transaction(app.redis, here) as pipe:
        pipe.set(here, 1)
        pipe.set(there, 1)
        pipe.execute()
    assert app.redis.get(here) is None and app.redis.get(there) is None

    counts = assert_spread_and_tagged(app)
    assert sum(counts.values()) > 20


class Recorder:
    """A platform stand-in shared by several workers; `failing` makes it refuse."""

    def __init__(self):
        self.sent = []
        self.failing = False
        self.lock = threading.Lock()

    def deliver(self, address, message):
        if self.failing:
            raise DeliveryError("platform said 503")
        with self.lock:
            self.sent.append((address.tenant_key, address.channel, message.local_date))


def test_pushes_are_sent_once_dead_lettered_and_redriven_on_a_cluster(cluster_settings):
    recorder = Recorder()
    workers = [Container(cluster_settings) for _ in range(3)]
    for worker in workers:
        worker.outbox = recorder
    admin = workers[0]
    channels = []
    for platform, tenant in (("slack", "T1"), ("slack", "T2"), ("discord", "G1")):
        for n in range(4):
            sub = Subscription(
                platform, tenant, f"C{n}", "07:00", "Europe/Berlin", parse_days("daily"),
                course=COURSE,
            )  # fmt: skip
            admin.pushes.subscribe(sub)
            channels.append((f"{platform}:{tenant}", f"C{n}"))
    assert len(admin.pushes.subscriptions()) == 12

    # Three workers tick at once: the per-channel SET NX lease (and its Lua renewal) holds.
    ticks = [threading.Thread(target=w.pushes.tick, args=(TICK_AT,)) for w in workers]
    for tick in ticks:
        tick.start()
    for tick in ticks:
        tick.join(60)
    assert sorted((t, c) for t, c, _ in recorder.sent) == sorted(channels)
    assert all(w.pushes.tick(TICK_AT) == [] for w in workers)

    # The next day the platform is down: every push is dead-lettered, once.
    recorder.failing = True
    next_day = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert admin.pushes.tick(next_day) == []
    assert len(admin.pushes.dead_letters()) == 12
    assert workers[1].pushes.tick(next_day) == []  # not re-sent
    recorder.failing = False
    for dead in workers[2].pushes.dead_letters():
        assert workers[2].pushes.retry(dead["id"]) is True
    assert admin.pushes.dead_letters() == []
    assert len(recorder.sent) == 24

    # A reminder: the person's due cards and the {subs}:reminders index, on two slots.
    ada = account("U1")
    admin.quiz.clock = lambda: TICK_AT
    review(admin, ada)
    admin.quiz.set_reminders(ada, True, quiet="22:00-06:00")
    later = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    assert admin.pushes.remind(later) == 1
    assert workers[1].pushes.remind(later) == 0  # once a day

    admin.pushes.unsubscribe(Address("slack", "T1", "C0"))
    assert len(admin.pushes.subscriptions()) == 11
    assert_spread_and_tagged(admin)


def test_dedupe_rate_limits_and_the_breaker_state_on_a_cluster(cluster_settings):
    app, replica = Container(cluster_settings), Container(cluster_settings)
    assert app.deduper.first_time("slack:T1", "Ev1")
    assert not replica.deduper.first_time("slack:T1", "Ev1")
    assert replica.deduper.first_time("discord:G1", "Ev1")

    # limits' own cluster storage (redis+cluster://), shared by both replicas.
    assert [app.rate_limiter.allow("slack:T1", "U1") for _ in range(2)] == [True, True]
    assert replica.rate_limiter.allow("slack:T1", "U1")
    assert not app.rate_limiter.allow("slack:T1", "U1")
    assert replica.rate_limiter.allow("slack:T1", "U2")

    # The LLM breaker's state in Redis on the cluster, seen by every replica.
    breaker = Breaker("the model", 2, 60, app.breaker_store)
    theirs = Breaker("the model", 2, 60, replica.breaker_store)
    assert breaker.state == theirs.state == "closed"

    def provider_down():
        raise TimeoutError("model timed out")

    with pytest.raises(TimeoutError):
        breaker.call(provider_down)
    with pytest.raises(TimeoutError):
        theirs.call(provider_down)  # the count is shared: this second failure opens it
    with pytest.raises(BreakerOpenError):
        breaker.call(provider_down)
    assert theirs.state == "open" and replica.breaker_store.opened_at() is not None
    replica.breaker_store.close()
    assert breaker.state == "closed"
    assert_spread_and_tagged(app)


# -- URLs ---------------------------------------------------------------------------------


def test_sentinel_and_cluster_urls_map_to_each_library(tmp_path):
    target = SentinelTarget.parse("redis+sentinel://:s3cret@10.0.0.1:26379,sent-2/mymaster/2")
    assert target.sentinels == [("10.0.0.1", 26379), ("sent-2", 26379)]
    assert (target.service, target.db, target.password) == ("mymaster", 2, "s3cret")
    for bad in ("redis+sentinel://h:26379", "redis+sentinel://h:26379/m/x", "redis+sentinel:///m"):
        with pytest.raises(ValueError, match="redis\\+sentinel://"):
            SentinelTarget.parse(bad)

    sentinel = RedisSettings(url="redis+sentinel://:s3cret@h1:26379,h2:26380/mymaster/2")
    uri, options = limits_storage(sentinel, tmp_path)
    assert uri == "redis+sentinel://:s3cret@h1:26379,h2:26380/mymaster" and options["db"] == 2
    cluster = RedisSettings(url="rediss+cluster://h1:7000,h2:7001")
    uri, options = limits_storage(cluster, tmp_path)
    assert uri == "redis+cluster://h1:7000,h2:7001" and options["ssl"] is True

    # arq has a Sentinel client but no Cluster client.
    arq = arq_redis_settings(Settings(data_dir=tmp_path, redis=sentinel))
    assert arq.sentinel and arq.host == [("h1", 26379), ("h2", 26380)]
    assert (arq.sentinel_master, arq.database, arq.password) == ("mymaster", 2, "s3cret")
    queued = cluster.model_copy(update={"queue_url": "redis://q:6379/3"})
    arq = arq_redis_settings(Settings(data_dir=tmp_path, redis=queued))
    assert (arq.host, arq.port, arq.database) == ("q", 6379, 3)
    with pytest.raises(ValueError, match="not a Cluster"):
        bad = cluster.model_copy(update={"queue_url": "redis+cluster://q:7000"})
        arq_redis_settings(Settings(data_dir=tmp_path, redis=bad))
    arq = arq_redis_settings(Settings(data_dir=tmp_path, redis=cluster))
    assert arq.unix_socket_path  # the worker's own embedded server
    redis.Redis(unix_socket_path=arq.unix_socket_path).shutdown(nosave=True)


# -- Sentinel -----------------------------------------------------------------------------


def wait_until(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def sentinel(tmp_path):
    """A master, its replica and one sentinel watching them, all on loopback."""
    server = redis_binary("redis-server")
    ports = []
    while len(ports) < 3:
        port = free_port()
        if port not in ports:
            ports.append(port)
    master_port, replica_port, sentinel_port = ports

    def start(name, *args):
        folder = tmp_path / name
        folder.mkdir()
        return subprocess.Popen(
            [server, *args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
        "sentinel failover-timeout mymaster 3000\n"
    )
    processes = [
        start("master", "--port", str(master_port)),
        start("replica", "--port", str(replica_port), "--replicaof", "127.0.0.1", str(master_port)),
    ]
    try:
        replica = redis.Redis(port=replica_port, socket_timeout=1, decode_responses=True)
        wait_until(lambda: replica.info("replication")["master_link_status"] == "up", what="sync")
        processes.append(start("sentinel", str(conf), "--sentinel"))
        watcher = redis.Redis(port=sentinel_port, socket_timeout=1, decode_responses=True)
        wait_until(
            lambda: (
                [r["port"] for r in watcher.sentinel_slaves("mymaster")] == [replica_port]
                and not watcher.sentinel_slaves("mymaster")[0]["is_disconnected"]
            ),
            what="the sentinel to see the replica",
        )
        yield SimpleNamespace(
            url=f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster/0",
            master=processes[0],
            master_port=master_port,
            replica_port=replica_port,
            watcher=watcher,
        )
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


def test_a_sentinel_failover_keeps_answering_and_quiz_writes_resume_in_place(
    sentinel, indexed_data_dir, models_dir
):
    container = Container(
        Settings(
            data_dir=indexed_data_dir,
            models_path=models_dir,
            redis=RedisSettings(
                url=sentinel.url,
                key_prefix="sentinel",
                socket_timeout=0.3,
                connect_timeout=0.3,
                retries=1,
            ),
        )
    )
    items = multiple_choice(container)
    quizzer = student("quiz", user="quizzer")
    acked = 0

    def ask(n):
        """Always answered; True when the answer says the memory was unreachable."""
        reply = container.assistant.ask(
            student("why add randomness to retry delays", thread=f"{n}")
        )
        assert reply.in_scope and reply.answer
        return HISTORY_UNAVAILABLE in reply.notes

    def answer(n):
        item = items[n % len(items)]
        prompt = container.quiz.next_prompt(quizzer, COURSE, item_id=item.id)
        container.quiz.answer(quizzer, prompt.prompt_id, right_letter(prompt, item))

    for n in range(2):
        assert not ask(n)
        answer(n)
        acked += 1
    assert container.rate_limiter.allow("console:test", "U1")  # limits' redis+sentinel://
    # Replication is asynchronous: the test kills the master once its replica has it all.
    master = redis.Redis(port=sentinel.master_port)
    assert master.wait(1, 2000) == 1

    os.kill(sentinel.master.pid, signal.SIGKILL)
    sentinel.master.wait(10)
    killed_at = time.monotonic()
    notes, refusals, n = [], [], 2
    while True:
        assert time.monotonic() - killed_at < 25, "quiz writes never resumed"
        notes.append(ask(n))  # AP: answered throughout, without memory while it is away
        try:
            answer(n)  # CP: refused with the clear message until a master is back
            acked += 1
            break
        except StateUnavailableError as exc:
            refusals.append(str(exc))
        n += 1
    switch = time.monotonic() - killed_at

    assert notes[0] and refusals and set(refusals) == {UNAVAILABLE}, (notes, refusals)
    # The sentinel promoted the replica, and the same Container now writes to it.
    assert int(sentinel.watcher.sentinel_get_master_addr_by_name("mymaster")[1]) == (
        sentinel.replica_port
    )
    assert container.redis.connection_pool.get_master_address()[1] == sentinel.replica_port
    for after in range(n + 1, n + 3):
        assert not ask(after)
        answer(after)
        acked += 1
    assert container.rate_limiter.allow("console:test", "U1")

    # Nothing acknowledged was lost or half-applied: log, days and points agree.
    prefix = container.keys.person(container.quiz.person(quizzer))
    reviews = container.redis.llen(f"{prefix}:reviews")
    days = sum(int(v) for v in container.redis.hvals(f"{prefix}:days"))
    points = int(container.redis.hget(f"{prefix}:profile", "points"))
    assert reviews == days == acked and points == 2 * acked
    print(f"sentinel switch: quiz writes refused for {switch:.1f} s, {len(refusals)} refusal(s)")
