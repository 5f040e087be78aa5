"""The core ask pipeline against real Redis, Chroma and the model."""

import pytest

from bot.config import RedisSettings
from bot.core.errors import InputError, NotAllowedError, NotFoundError
from bot.core.models import Address
from bot.wiring import Container
from tests.conftest import start_redis_server, student


def test_cap_analysis_fills_every_slot_from_one_question(app):
    reply = app.assistant.ask(
        student(
            "Analyze the CAP trade-offs for a ride-sharing app. Data types: driver locations, "
            "trip payments, ratings"
        )
    )
    data = reply.to_json()
    assert data["concept"] == "cap" and data["in_scope"] and data["mode"] == "extractive"
    template = data["template"]
    assert template["id"] == "cap-analysis" and template["missing"] == []
    assert "ride-sharing app" in template["slots"]["system"]
    assert template["slots"]["data_types"] == ["driver locations", "trip payments", "ratings"]
    for item in ("ride-sharing app", "driver locations", "trip payments", "ratings"):
        assert item in template["prompt"]
    assert data["sources"] and data["sources"][0]["concept"] == "cap"
    assert "**Sources**" in data["answer"] and "CAP theorem in practice › " in data["answer"]


def test_missing_slots_are_asked_for_and_the_next_message_fills_them(app):
    first = app.assistant.ask(student("What's the CAP strategy for a chat app?", thread="c1"))
    assert first.template.missing == ["data_types"]
    assert first.template.prompt is None
    assert "data types" in first.answer and "Which kinds of data" in first.answer

    other_thread = app.assistant.ask(student("messages, presence", thread="elsewhere"))
    assert other_thread.template is None

    second = app.assistant.ask(student("messages, presence and read receipts", thread="c1"))
    assert second.concept == "cap"
    assert second.template.id == "cap-analysis" and second.template.missing == []
    assert second.template.slots == {
        "system": "a chat app",
        "data_types": ["messages", "presence", "read receipts"],
    }
    assert "- read receipts" in second.template.prompt

    third = app.assistant.ask(student("what is a quorum", thread="c1"))
    assert third.template is None and third.concept in {"consensus", "storage"}


def test_an_empty_slot_answer_is_refused_and_the_pending_template_kept(app):
    app.assistant.ask(student("What's the CAP strategy for a chat app?", thread="c2"))
    with pytest.raises(InputError, match="empty"):
        app.assistant.ask(student("   ", thread="c2"))
    done = app.assistant.ask(student("data types: messages", thread="c2"))
    assert done.template.missing == []


def test_starting_a_template_by_id_asks_for_every_slot_in_turn(app):
    reply = app.assistant.ask(
        student("apply this to my system", thread="c3"), template_id="consistency-design"
    )
    assert reply.template.missing == ["system", "operations"]
    reply = app.assistant.ask(student("a shared shopping list app", thread="c3"))
    assert reply.template.missing == ["operations"]
    assert reply.template.slots["system"] == "shared shopping list app"
    reply = app.assistant.ask(student("add item, check off item, view list", thread="c3"))
    assert reply.template.missing == []
    assert "check off item" in reply.template.prompt


def test_unknown_template_is_refused_before_anything_changes(app):
    with pytest.raises(NotFoundError, match="unknown template"):
        app.assistant.ask(student("hi there", thread="c4"), template_id="nope")
    with pytest.raises(NotFoundError):
        app.assistant.ask(student("hi there", thread="c4"), template_id="answer")


def test_follow_up_uses_the_thread_history(app):
    app.assistant.ask(student("Should a bank balance be CP or AP?", thread="f1"))
    reply = app.assistant.ask(student("and what about for the likes on posts?", thread="f1"))
    assert reply.concept == "cap"
    assert any("likes" in p.chunk.section.lower() for p in reply.passages[:3])


def test_off_topic_abstains_and_is_recorded_as_a_content_gap(app):
    reply = app.assistant.ask(student("What's a good recipe for banana bread?"))
    assert (reply.in_scope, reply.concept, reply.template) == (False, None, None)
    assert "nearest topics" in reply.answer.lower()
    app.assistant.ask(student("who won the world cup in 2014"))
    app.assistant.ask(student("what's a good recipe for   banana bread?"))
    gaps = app.assistant.gaps(Address("console", "test"))
    assert [(g.question, g.count) for g in gaps] == [
        ("what's a good recipe for banana bread?", 2),
        ("who won the world cup in 2014", 1),
    ]
    assert app.assistant.gaps(Address("console", "other-tenant")) == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty"),
        ("\u200b \u2060", "empty"),
        ("x" * 4001, "too long"),
        ("\U0001f914\U0001f914?!", "no words"),
    ],
)
def test_bad_questions_are_refused_and_leave_no_state(app, text, error):
    with pytest.raises(InputError, match=error):
        app.assistant.ask(student(text, thread="bad"))
    assert app.redis.keys(f"{app.settings.redis.key_prefix}:*") == []


def test_unknown_course_is_refused(app):
    with pytest.raises(NotFoundError, match="unknown course"):
        app.assistant.ask(student("what is CAP", course="basket-weaving"))


def test_course_per_channel_is_set_by_managers_only(app, course_dir):
    app.ingestor.ingest([course_dir], "mini")
    address = Address("slack", "T1", "C1")
    with pytest.raises(NotAllowedError):
        app.assistant.set_course(address, "mini", is_admin=False, channel=True)
    assert app.assistant.set_course(address, "mini", is_admin=True, channel=True) == "mini"
    from bot.core.models import Incoming

    in_channel = Incoming(address, "U1", "random delay before retrying", "t")
    elsewhere = Incoming(Address("slack", "T1", "C2"), "U1", "random delay before retrying", "t")
    assert {p.chunk.course for p in app.assistant.ask(in_channel).passages} == {"mini"}
    assert {p.chunk.course for p in app.assistant.ask(elsewhere).passages} == {
        "distributed-systems"
    }


def test_replies_neutralise_mass_mentions_and_redact_secrets(app, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1111-2222-abcdefghijkl")
    container = Container(app.settings)
    reply = container.assistant.ask(
        student("Design fault tolerance for our <!channel> xoxb-1111-2222-abcdefghijkl app")
    )
    text = reply.markdown()
    assert "<!channel>" not in text and "xoxb-1111-2222-abcdefghijkl" not in text


def test_redis_down_still_answers_without_history(make_settings, indexed_data_dir, tmp_path):
    process, port = start_redis_server(tmp_path / "redis")
    settings = make_settings(
        data_dir=indexed_data_dir,
        redis=RedisSettings(url=f"redis://127.0.0.1:{port}/0", key_prefix="down"),
    )
    container = Container(settings)
    first = container.assistant.ask(student("why add randomness to retry delays"))
    assert first.notes == []
    process.kill()
    process.wait()

    reply = container.assistant.ask(student("and what about circuit breakers?"))
    assert reply.in_scope and reply.concept == "fault-tolerance"
    assert "memory is unreachable" in reply.markdown()
    assert container.assistant.ask(student("banana bread recipe")).in_scope is False
