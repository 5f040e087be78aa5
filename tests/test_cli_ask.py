"""`studybot ask | chat | templates | gaps` as a student or staff member would use them."""

import json
import subprocess
import sys

import pytest

from bot.config import REPO_ROOT
from tests.conftest import call

RIDE = (
    "Analyze the CAP trade-offs for a ride-sharing app. "
    "Data types: driver locations, trip payments, ratings"
)


def test_ask_json_contract(cli_redis_env, capsys):
    code, out, _ = call(capsys, "ask", "--json", RIDE)
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"answer", "mode", "in_scope", "concept", "sources", "template"}
    assert (data["mode"], data["in_scope"], data["concept"]) == ("extractive", True, "cap")
    assert isinstance(data["answer"], str) and data["answer"]
    for source in data["sources"]:
        assert set(source) == {"path", "title", "section", "concept", "score", "text"}
    assert set(data["template"]) == {"id", "slots", "missing", "prompt"}
    assert data["template"]["id"] == "cap-analysis"
    assert data["template"]["slots"]["data_types"] == [
        "driver locations",
        "trip payments",
        "ratings",
    ]


def test_ask_twice_in_a_thread_completes_the_template(cli_redis_env, capsys):
    code, out, _ = call(
        capsys, "ask", "--json", "--thread", "T9", "What's the CAP strategy for a chat app?"
    )
    first = json.loads(out)["template"]
    assert (code, first["missing"], first["prompt"]) == (0, ["data_types"], None)
    code, out, _ = call(
        capsys, "ask", "--json", "--thread", "T9", "Data types: messages, presence, read receipts"
    )
    second = json.loads(out)
    assert second["concept"] == "cap"
    assert second["template"]["missing"] == []
    assert "- presence" in second["template"]["prompt"]


def test_ask_human_output_and_off_topic(cli_redis_env, capsys):
    code, out, _ = call(capsys, "ask", "why add randomness to retry delays")
    assert code == 0 and "Sources" in out and "Jitter" in out
    code, out, _ = call(capsys, "ask", "--json", "best banana bread recipe")
    data = json.loads(out)
    assert (data["in_scope"], data["concept"], data["template"], data["sources"]) == (
        False,
        None,
        None,
        [],
    )
    code, out, _ = call(capsys, "gaps", "--tenant", "cli:local", "--json")
    assert [g["question"] for g in json.loads(out)] == ["best banana bread recipe"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "empty"),
        (["ask", "y" * 5000], "too long"),
        (["ask", "\U0001f600\U0001f600"], "no words"),
        (["ask", "what is CAP", "--course", "nope"], "unknown course"),
        (["ask", "what is CAP", "--template", "nope"], "unknown template"),
        (["gaps", "--tenant", "nocolon"], "tenant must look like"),
    ],
)
def test_ask_bad_input_exits_2(cli_redis_env, capsys, args, message):
    code, out, err = call(capsys, *args)
    assert (code, out) == (2, "")
    assert message in err and len(err.strip().splitlines()) == 1


def test_templates_lists_every_template_and_slot(cli_redis_env, capsys):
    code, out, _ = call(capsys, "templates")
    assert code == 0
    for name in ("cap-analysis", "resilience-design", "consistency-design", "event-driven-design"):
        assert name in out
    assert "data_types (list)" in out and "events (list, optional)" in out
    assert "slot-extraction" not in out


@pytest.mark.slow
def test_console_chat_driven_through_stdin(subprocess_env):
    env = subprocess_env
    lines = [
        "What's the CAP strategy for a chat app?",
        "messages, presence and read receipts",
        "/edit system=a group chat",
        "/edit colour",
        "/template",
        "/template resilience-design",
        "/frobnicate",
        "/reset",
        "why add randomness to retry delays",
        "/trace",
        "/quit",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "extractive answers" in out
    assert "I still need" in out and "data types" in out
    assert "- read receipts" in out
    assert "reason about the CAP theorem for a group chat" in out  # /edit corrected it
    assert "/edit takes NAME=VALUE" in out
    assert "cap-analysis: CAP trade-off analysis" in out
    assert "Which system should we make fault tolerant" in out
    assert "unknown command '/frobnicate'" in out
    assert "Conversation forgotten." in out
    assert "Jitter" in out
    assert "Trace of your last request (terminal chat" in out and "retrieval" in out
    assert "Traceback" not in out + done.stderr


def test_ask_slot_sets_what_was_understood_and_bad_slots_exit_2(cli_redis_env, capsys):
    code, out, _ = call(capsys, "ask", "--json", "--slot", "system=a hotel chain", RIDE)
    assert code == 0
    slots = json.loads(out)["template"]["slots"]
    assert slots["system"] == "a hotel chain" and slots["data_types"][0] == "driver locations"
    code, out, _ = call(capsys, "ask", "--json", "--slot", "data_types=rooms; bookings", RIDE)
    assert json.loads(out)["template"]["slots"]["data_types"] == ["rooms", "bookings"]
    for bad, says in [("nonsense", "NAME=VALUE"), ("colour=red", "unknown slot 'colour'")]:
        code, _, err = call(capsys, "ask", "--slot", bad, RIDE)
        assert code == 2 and says in err
    code, _, err = call(capsys, "ask", "--slot", "system=x", "what is the CAP theorem")
    assert code == 2 and "need a template" in err
