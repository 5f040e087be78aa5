"""Template intent and slot filling through `Assistant.ask`: each failure class of issue 14."""

from __future__ import annotations

import json
import uuid

import pytest

from bot.core.intent import EXPLAIN, IntentClassifier, load_examples
from bot.core.models import Address, Incoming, Reply
from bot.core.slots import MAX_ITEMS
from bot.core.trace import Trace, describe


def ask(app, text: str, thread: str | None = None) -> Reply:
    incoming = Incoming(Address("test", "t1", "C1"), "U1", text, thread or uuid.uuid4().hex)
    return app.assistant.ask(incoming)


@pytest.mark.parametrize(
    ("question", "template"),
    [
        ("What CAP trade-offs should a chat app make?", "cap-analysis"),
        ("for our ticket shop, which parts should be CP and which AP", "cap-analysis"),
        ("how do I stop one slow dependency from taking our whole checkout down",
         "resilience-design"),
        ("which consistency model fits each of these: post, like, follow", "consistency-design"),
        ("sketch the events for a parking garage", "event-driven-design"),
        ("what is the CAP theorem", None),
        ("why do banks usually choose CP?", None),
        ("our signup service calls a mailer; what's the difference between a timeout and a "
         "circuit breaker?", None),
    ],
)  # fmt: skip
def test_the_intent_is_recognised_however_it_is_phrased(app, question, template):
    reply = ask(app, question)
    assert (reply.template.id if reply.template else None) == template


def test_a_pronoun_refers_back_to_the_system(app):
    reply = ask(
        app,
        "We run a food ordering API. It talks to a menu service, a payments provider and an "
        "SMS gateway. How do we keep one slow call from taking it all down?",
    )
    assert reply.template.id == "resilience-design"
    assert reply.template.slots["system"] == "a food ordering API"
    assert reply.template.slots["dependencies"] == [
        "food ordering API -> menu service",
        "food ordering API -> payments provider",
        "food ordering API -> SMS gateway",
    ]


def test_a_list_in_prose_fills_the_list_slot(app):
    reply = ask(app, "an event-driven design for a parking garage with spots, cars and payments")
    assert reply.template.id == "event-driven-design"
    assert reply.template.slots["entities"] == ["spots", "cars", "payments"]


def test_labelled_lines_with_other_words_fill_the_slots(app):
    reply = ask(app, "CAP please\nSystem: a bike rental app\nData: bikes, rentals, payments")
    assert reply.template.slots == {
        "system": "a bike rental app",
        "data_types": ["bikes", "rentals", "payments"],
    }
    assert "Understood: **System:** a bike rental app · **Data types:** bikes" in reply.answer


def test_a_new_question_while_a_template_waits_is_answered_and_the_fill_resumes(app):
    thread = uuid.uuid4().hex
    opened = ask(app, "Can you do a CAP analysis for my chat app?", thread)
    assert opened.template.missing == ["data_types"]
    aside = ask(app, "what is a network partition?", thread)
    assert aside.template is None and aside.concept == "cap"
    resumed = ask(app, "continue the CAP analysis", thread)
    assert resumed.template.missing == ["data_types"]
    done = ask(app, "messages, presence and read receipts", thread)
    assert done.template.slots["data_types"] == ["messages", "presence", "read receipts"]
    assert done.template.missing == []


def test_a_correction_updates_the_fill_instead_of_starting_over(app):
    thread = uuid.uuid4().hex
    ask(app, "CAP trade-offs for a hotel booking site: rooms, bookings and reviews", thread)
    fixed = ask(app, "no, the system is a hotel chain", thread)
    assert fixed.template.slots == {
        "system": "a hotel chain",
        "data_types": ["rooms", "bookings", "reviews"],
    }


@pytest.mark.parametrize(
    ("opening", "correction", "slot", "expected"),
    [
        ("event-driven design for our gym app: members, classes and trainers",
         "oh not trainers, in our app they're called coaches", "entities",
         ["members", "classes", "coaches"]),
        ("consistency for my kanban app: move card, add comment, view board, assign member",
         "wait, scratch assign member, we don't have that yet", "operations",
         ["move card", "add comment", "view board"]),
        ("consistency for my kanban app: move card, add comment, view board, assign member",
         "so just move card, view board", "operations", ["move card", "view board"]),
        ("resilience for a ticket site: api calls payments, fraud check and seat map",
         "correction: fraud check is called by payments, not api", "dependencies",
         ["api -> payments", "api -> seat map", "payments -> fraud check"]),
        ("resilience for my shop: checkout calls payments and stock",
         "actually it's called inventory, not stock", "dependencies",
         ["checkout -> payments", "checkout -> inventory"]),
        ("CAP for a ticketing app: seat maps, orders and user profiles",
         "oh and also loyalty points", "data_types",
         ["seat maps", "orders", "user profiles", "loyalty points"]),
        ("CAP trade-offs for a hotel app: rooms, bookings, reviews",
         "sorry, it's a hostel app, not a hotel app", "system", "hostel app"),
    ],
)  # fmt: skip
def test_a_correction_can_rename_remove_add_or_rewire_single_items(
    app, opening, correction, slot, expected
):
    thread = uuid.uuid4().hex
    ask(app, opening, thread)
    fixed = ask(app, correction, thread)
    assert fixed.template.slots[slot] == expected


def test_resuming_and_answering_in_one_message_fills_the_fill(app):
    thread = uuid.uuid4().hex
    ask(app, "Can you do an event-driven design for our library app?", thread)
    aside = ask(app, "what is an outbox?", thread)
    assert aside.template is None
    done = ask(app, "ok continue. it keeps track of books, loans and members", thread)
    assert done.template.slots["entities"] == ["books", "loans", "members"]
    assert done.template.slots["system"] == "our library app"


def test_more_about_the_same_system_replaces_what_was_guessed(app):
    thread = uuid.uuid4().hex
    ask(app, "event-driven design for our makerspace lending platform, it's a mess of cron jobs",
        thread)  # fmt: skip
    told = ask(app, "The main things are tools, members and reservations.", thread)
    assert told.template.slots["entities"] == ["tools", "members", "reservations"]
    assert "makerspace lending platform" in told.template.slots["system"]


def test_a_huge_list_is_capped_with_a_note(app):
    items = ", ".join(f"table{n}" for n in range(200))
    reply = ask(app, f"CAP analysis for our shop. Data: {items}")
    assert len(reply.template.slots["data_types"]) == MAX_ITEMS
    assert any("first 15" in note for note in reply.notes)


@pytest.mark.parametrize("system", ["!!!", "🙂🙂", "System:"])
def test_a_system_of_only_punctuation_or_emoji_is_asked_for_again(app, system):
    reply = ask(app, f"do a CAP analysis for {system}")
    assert reply.template.id == "cap-analysis" and "system" in reply.template.missing


def test_the_examples_must_include_explanations(tmp_path):
    bad = tmp_path / "intents.yaml"
    bad.write_text("intents:\n  cap-analysis: [a]\n")
    with pytest.raises(ValueError, match="explain"):
        load_examples(bad)


def test_the_classifier_prefers_explaining_when_unsure():
    examples = {EXPLAIN: ["what is x"], "cap-analysis": ["analyse x"]}
    same = IntentClassifier(examples, lambda texts: [[1.0, 0.0] for _ in texts])
    assert same.predict("anything").label == EXPLAIN  # no template clearly wins


def test_with_a_model_the_slots_come_from_structured_output(llm_app, stub):
    app = llm_app(retries=0)
    stub.script.extend(
        [
            {"json": {"system": "a cinema chain", "data_types": ["seats", "tickets"]}},
            {"text": "Seats are CP [1]."},
        ]
    )
    reply = ask(app, "CAP trade-offs for our movie theatres please: seats and popcorn stock")
    assert reply.mode == "llm"
    assert reply.template.slots == {"system": "a cinema chain", "data_types": ["seats", "tickets"]}
    assert "movie theatres" in json.dumps(stub.chat_requests[0])  # the model read the message


def test_when_the_model_fails_the_local_extractor_fills_the_slots(llm_app, stub):
    app = llm_app(retries=0)
    stub.script.extend([{"status": 500}, {"text": "Seats are CP [1]."}])
    reply = ask(app, "CAP trade-offs for our movie theatres: seats and popcorn stock")
    assert reply.template.slots == {
        "system": "our movie theatres",
        "data_types": ["seats", "popcorn stock"],
    }


def test_the_trace_says_how_a_template_request_was_read(app):
    thread = uuid.uuid4().hex
    for text, says in [
        ("Can you do a CAP analysis for my chat app?", "fill the cap-analysis template"),
        ("messages, presence and read receipts", "read as a slot answer"),
    ]:
        trace = Trace("test", "t")
        incoming = Incoming(Address("test", "t1", "C1"), "U1", text, thread)
        app.assistant.ask(incoming, trace=trace)
        assert says in describe(trace)
