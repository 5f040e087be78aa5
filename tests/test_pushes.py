"""Daily pushes: validation, exactly once across racing workers, DST, catch-up, dead letters."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from bot.config import PushSettings, RedisSettings, Settings
from bot.core.errors import InputError, NotFoundError
from bot.core.models import Address
from bot.schedule.outbox import DeliveryError, LogOutbox
from bot.schedule.pushes import Subscription, parse_days
from bot.wiring import Container
from tests.conftest import COURSE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def push_app(indexed_data_dir, models_dir, redis_url, redis_prefix, tmp_path):
    return Container(
        Settings(
            data_dir=indexed_data_dir,
            models_path=models_dir,
            redis=RedisSettings(url=redis_url, key_prefix=redis_prefix),
            push=PushSettings(
                attempts=3, backoff_seconds=0.01, outbox_file=tmp_path / "outbox.jsonl"
            ),
        )
    )


def sub(channel="C1", time="07:30", tz="America/New_York", days="daily", concept=None):
    return Subscription("slack", "T1", channel, time, tz, parse_days(days), concept, COURSE)


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    ("subscription", "error"),
    [
        (sub(time="7:5"), "HH:MM"),
        (sub(time="24:00"), "HH:MM"),
        (sub(tz="Mars/Base"), "unknown timezone"),
        (sub(concept="knitting"), "no quiz items"),
    ],
)
def test_bad_subscriptions_are_refused(push_app, subscription, error):
    with pytest.raises(InputError, match=error):
        push_app.pushes.subscribe(subscription)
    assert push_app.pushes.subscriptions(Address("slack", "T1")) == []


def test_days_parsing():
    assert parse_days("weekdays") == ["mon", "tue", "wed", "thu", "fri"]
    assert parse_days("Fri, mon") == ["mon", "fri"]
    with pytest.raises(InputError):
        parse_days("funday")


def test_push_once_per_local_day_with_catch_up_and_days_of_week(push_app, tmp_path):
    push_app.pushes.subscribe(sub(days="mon,tue"))
    outbox = tmp_path / "outbox.jsonl"
    tick = push_app.pushes.tick
    # Monday 2026-03-02, New York is UTC-5.
    assert tick(datetime(2026, 3, 2, 12, 29, tzinfo=UTC)) == []  # 07:29 local
    assert tick(datetime(2026, 3, 2, 12, 30, tzinfo=UTC)) == ["slack:T1|C1"]
    assert tick(datetime(2026, 3, 2, 12, 31, tzinfo=UTC)) == []  # never twice
    # Tuesday: the worker was down at 07:30; at 15:00 local it catches up, once.
    assert tick(datetime(2026, 3, 3, 20, 0, tzinfo=UTC)) == ["slack:T1|C1"]
    assert tick(datetime(2026, 3, 3, 21, 0, tzinfo=UTC)) == []
    # Wednesday is not a subscribed day.
    assert tick(datetime(2026, 3, 4, 13, 0, tzinfo=UTC)) == []
    sent = lines(outbox)
    assert [m["message"]["local_date"] for m in sent] == ["2026-03-02", "2026-03-03"]
    assert sent[0]["address"] == {"platform": "slack", "tenant": "T1", "channel": "C1"}
    assert sent[0]["message"]["item_id"] in push_app.catalog.quiz_bank(COURSE).items


def test_local_time_holds_across_dst(push_app):
    push_app.pushes.subscribe(sub())
    tick = push_app.pushes.tick
    # Saturday 2026-03-07 (EST, UTC-5): 07:30 local is 12:30 UTC.
    assert tick(datetime(2026, 3, 7, 11, 30, tzinfo=UTC)) == []
    assert tick(datetime(2026, 3, 7, 12, 30, tzinfo=UTC)) != []
    # Sunday 2026-03-08 (EDT from 02:00, UTC-4): 07:30 local is 11:30 UTC.
    assert tick(datetime(2026, 3, 8, 11, 29, tzinfo=UTC)) == []
    assert tick(datetime(2026, 3, 8, 11, 30, tzinfo=UTC)) != []
    # Autumn: Sunday 2026-11-01 falls back to EST; 07:30 local is 12:30 UTC again.
    assert tick(datetime(2026, 11, 1, 11, 45, tzinfo=UTC)) == []
    assert tick(datetime(2026, 11, 1, 12, 30, tzinfo=UTC)) != []


class FlakyOutbox:
    """A platform stand-in that fails the first `failures` deliveries."""

    def __init__(self, failures: int, log: LogOutbox) -> None:
        self.failures = failures
        self.calls = 0
        self.log = log

    def deliver(self, address, message):
        self.calls += 1
        if self.calls <= self.failures:
            raise DeliveryError("platform said 503")
        self.log.deliver(address, message)


def test_failed_deliveries_retry_then_dead_letter_and_can_be_redriven(push_app, tmp_path):
    flaky = FlakyOutbox(failures=10, log=LogOutbox(tmp_path / "outbox.jsonl"))
    push_app.outbox = flaky  # the platform is down
    push_app.pushes.subscribe(sub())
    assert push_app.pushes.tick(datetime(2026, 3, 2, 13, 0, tzinfo=UTC)) == []
    assert flaky.calls == 3  # attempts, with jittered backoff between them
    [dead] = push_app.pushes.dead_letters()
    assert dead["address"]["channel"] == "C1" and "503" in dead["error"]
    assert push_app.pushes.tick(datetime(2026, 3, 2, 13, 5, tzinfo=UTC)) == []  # not re-sent

    flaky.failures = 0  # the platform is back
    assert push_app.pushes.retry(dead["id"]) is True
    assert push_app.pushes.dead_letters() == []
    assert len(lines(tmp_path / "outbox.jsonl")) == 1
    with pytest.raises(NotFoundError):
        push_app.pushes.retry(dead["id"])

    flaky.failures, flaky.calls = 100, 0
    with pytest.raises(Exception, match="dead-letter"):
        push_app.pushes.push_now(Address("slack", "T1", "C9"), COURSE, datetime.now(UTC))
    [dead] = push_app.pushes.dead_letters()
    push_app.pushes.drop(dead["id"])
    assert push_app.pushes.dead_letters() == []


def cli_env(push_app, tmp_path):
    return {
        **os.environ,
        "STUDYBOT_DATA_DIR": str(push_app.settings.data_dir),
        "STUDYBOT_MODELS_PATH": str(push_app.settings.models_dir),
        "REDIS_URL": push_app.settings.redis.url,
        "REDIS_KEY_PREFIX": push_app.settings.redis.key_prefix,
        "STUDYBOT_PUSH__OUTBOX_FILE": str(tmp_path / "outbox.jsonl"),
    }


@pytest.mark.slow
def test_three_racing_workers_push_each_channel_exactly_once(push_app, tmp_path):
    for n in range(25):
        push_app.pushes.subscribe(sub(channel=f"C{n:02d}", tz="Europe/Berlin"))
    command = [sys.executable, "-m", "bot", "push", "--tick", "--at", "2026-03-02T09:00:00+00:00"]
    env = cli_env(push_app, tmp_path)
    workers = [subprocess.Popen(command, env=env, cwd=REPO) for _ in range(3)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    channels = [m["address"]["channel"] for m in lines(tmp_path / "outbox.jsonl")]
    assert sorted(channels) == [f"C{n:02d}" for n in range(25)]
    rerun = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    assert "Pushed to 0 channel(s)" in rerun.stdout
    assert len(lines(tmp_path / "outbox.jsonl")) == 25


@pytest.mark.slow
def test_the_arq_worker_process_pushes_on_startup(push_app, tmp_path):
    push_app.pushes.subscribe(sub(time="00:00", tz="UTC"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"],
        env=cli_env(push_app, tmp_path),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not lines(tmp_path / "outbox.jsonl") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [m["address"]["channel"] for m in lines(tmp_path / "outbox.jsonl")] == ["C1"]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def test_reminders_respect_opt_in_quiet_hours_and_come_once_a_day(push_app, tmp_path):
    from bot.core.models import Incoming

    quiz = push_app.quiz
    ada = Incoming(Address("slack", "T1", "C1"), "U1", "quiz", "t")
    quiz.set_timezone(ada, "Europe/Berlin")
    quiz.clock = lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    prompt = quiz.next_prompt(ada, COURSE)
    item = push_app.catalog.quiz_bank(COURSE).items[prompt.item_id]
    answer = "abcde"[prompt.options.index(item.answer)] if prompt.options else item.model_answer
    quiz.answer(ada, prompt.prompt_id, answer)
    if not prompt.options:
        quiz.rate(ada, prompt.prompt_id, "again")
    later = datetime(2026, 3, 9, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, cards are due
    assert push_app.pushes.remind(later) == 0  # not opted in
    with pytest.raises(InputError, match="quiet hours"):
        quiz.set_reminders(ada, True, quiet="late-early")
    quiz.set_reminders(ada, True, quiet="22:00-08:00")
    assert push_app.pushes.remind(later) == 0  # quiet hours
    morning = datetime(2026, 3, 10, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert push_app.pushes.remind(morning) == 1
    assert push_app.pushes.remind(morning) == 0  # once a day
    [sent] = lines(tmp_path / "outbox.jsonl")
    assert sent["address"]["channel"] == "U1" and sent["message"]["kind"] == "reminder"
    assert "due" in sent["message"]["text"]
    quiz.set_reminders(ada, False)
    assert push_app.pushes.remind(datetime(2026, 3, 11, 7, 30, tzinfo=UTC)) == 0


@pytest.mark.slow  # waits out real timeouts or retry delays
def test_slow_retries_renew_the_lease_so_no_second_worker_posts(push_app):
    from bot.schedule.pushes import PushScheduler

    class SlowFlakyOutbox:
        """Each attempt takes most of the lease; the first two fail."""

        def __init__(self) -> None:
            self.attempts, self.posted = 0, []

        def deliver(self, address, message):
            self.attempts += 1
            time.sleep(1.2)
            if self.attempts <= 2:
                raise DeliveryError("slow and failing")
            self.posted.append(address.channel)

    push_app.pushes.subscribe(sub(tz="UTC", time="00:00"))

    def scheduler(outbox):
        return PushScheduler(push_app.redis, push_app.keys, outbox, push_app.catalog.quiz_bank,
                             attempts=3, backoff_seconds=0.01, lease_seconds=2)  # fmt: skip

    slow, other = SlowFlakyOutbox(), SlowFlakyOutbox()
    other.attempts = 2  # the second worker's deliveries would succeed at once
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    import threading

    first = threading.Thread(target=scheduler(slow).tick, args=(at,))
    first.start()
    rival = scheduler(other)
    while first.is_alive():  # 3 attempts x 1.2 s outlast the 2 s lease
        assert rival.tick(at) == []
        time.sleep(0.2)
    assert slow.posted == ["C1"] and other.posted == []
