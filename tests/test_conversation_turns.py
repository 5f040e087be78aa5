"""A template filled over several turns, through `Assistant.ask`: asides, edits, switches."""

from __future__ import annotations

import uuid

import pytest

from bot.core.models import Address, Incoming, Reply
from bot.core.trace import Trace, describe
from bot.core.turns import load_turn_examples


class Thread:
    """One student's thread with the assistant."""

    def __init__(self, app) -> None:
        self.app, self.id = app, uuid.uuid4().hex

    def say(self, text: str) -> Reply:
        incoming = Incoming(Address("test", "t1", "C1"), "U1", text, self.id)
        return self.app.assistant.ask(incoming)

    def read_as(self, text: str) -> str:
        trace = Trace("test", "t")
        incoming = Incoming(Address("test", "t1", "C1"), "U1", text, self.id)
        self.app.assistant.ask(incoming, trace=trace)
        return describe(trace)


@pytest.mark.parametrize(
    "aside",
    [
        "i never got why quorums need a majority",
        "hmm remind me what graceful degradation means, like if search is down",
        "Before that, I have question: what means read your writes? Professor say it many times.",
        "hmm quick one first, is a quorum the same as a majority? I keep mixing them up",
    ],
)
def test_a_concept_question_without_a_question_mark_is_answered_and_the_fill_waits(app, aside):
    thread = Thread(app)
    assert thread.say("consistency design for our recipe site please").template.missing == [
        "operations"
    ]
    answered = thread.say(aside)
    assert answered.template is None and answered.in_scope
    done = thread.say("post recipe, rate recipe, load feed")
    assert done.template.slots["operations"] == ["post recipe", "rate recipe", "load feed"]
    assert done.template.missing == []


def test_a_bare_name_answers_which_system_even_if_it_reads_like_a_topic(app):
    thread = Thread(app)
    thread.say("consistency design. ops: book class, cancel booking, view timetable")
    named = thread.say("gym class booker")
    assert named.template.slots["system"] == "gym class booker"
    assert named.template.missing == []


def test_forget_it_drops_the_fill_and_says_so(app):
    thread = Thread(app)
    thread.say("Can you do a CAP analysis for my chat app?")
    dropped = thread.say("forget it")
    assert dropped.template is None
    assert any("Dropped: CAP trade-off analysis" in note for note in dropped.notes)
    later = thread.say("messages, presence and read receipts")
    assert later.template is None  # nothing waits any more


def test_naming_the_other_templates_slots_switches_template_and_keeps_the_system(app):
    thread = Thread(app)
    thread.say("resilience review for our smart home hub")
    switched = thread.say("entities: devices, rooms, automations. events: door unlocked")
    assert switched.template.id == "event-driven-design"
    assert switched.template.slots["system"] == "our smart home hub"
    assert switched.template.slots["entities"] == ["devices", "rooms", "automations"]


def test_a_message_it_cannot_read_never_restarts_the_template(app):
    thread = Thread(app)
    thread.say("consistency design for our trail app: submit report, confirm report, view map")
    kept = thread.say("actually 2 and 3 are one op in the consistency design now")
    assert kept.template.slots["system"] == "our trail app"
    assert kept.template.slots["operations"] == ["submit report", "confirm report", "view map"]


@pytest.mark.parametrize("opening", ["consistency models for my project pls", "cap for my app"])
def test_a_placeholder_is_not_a_system_and_the_bot_asks_for_one(app, opening):
    reply = Thread(app).say(opening)
    assert "system" in reply.template.missing


def test_a_named_product_keeps_its_name_and_what_it_is(app):
    reply = Thread(app).say(
        "consistency design for ProctorNest, our online exam proctoring platform. "
        "Operations: start exam, submit answer"
    )
    assert reply.template.slots["system"] == "ProctorNest (online exam proctoring platform)"
    assert "ProctorNest (online exam proctoring platform)" in reply.markdown()


@pytest.mark.slow  # forty-eight conversations through the whole core; the fast lane has the rest
@pytest.mark.parametrize(
    ("steps", "slot", "expected"),
    [
        (["resilience design for our ticket site", "services: gateway, booking, payment",
          "- booking can't work without payment\n- gateway needs booking"],
         "dependencies", ["booking -> payment", "gateway -> booking"]),
        (["resilience design for a smart-meter platform",
          "It has these services:\n\n| Service | Role |\n|---|---|\n| ingest | readings |\n"
          "| billing | invoices |"], "services", ["ingest", "billing"]),
        (["resilience design for our job board: api -> listings, listings -> search",
          "oops, it's search that calls listings, not the other way round"],
         "dependencies", ["api -> listings", "search -> listings"]),
        (["resilience design for our shop: checkout -> payments, payments -> email",
          "drop payments -> email, it goes through a queue now"],
         "dependencies", ["checkout -> payments"]),
        (["resilience design for our uploads: uploader calls storage",
          "uploader and feed both hit auth tbh"],
         "dependencies", ["uploader -> storage", "uploader -> auth", "feed -> auth"]),
        (["event-driven design for an insurance claims platform: policies, claims",
          "please refer to the system as the motor claims platform"],
         "system", "the motor claims platform"),
        (["consistency design for our gym app: book class, cancel booking",
          "+ check in at door"],
         "operations", ["book class", "cancel booking", "check in at door"]),
        (["event-driven design pls\n- entities: parcels, vans, drivers",
          "- system: ParcelTrail\n- drivers should be couriers"],
         "system", "ParcelTrail"),
        (["could you please carry out a CAP analysis for me?",
          "Certainly. The system in question is an electronic prescription service used by "
          "a network of pharmacies."],
         "system", "an electronic prescription service"),
        (["resilience design for our flood alert app: sensor ingest -> alert engine",
          "wait its not the app, its the flood warning backend. the app is just a client"],
         "system", "the flood warning backend"),
        (["cap analysis for our pharmacy app: prescriptions, drug stock levels",
          'please replace "drug stock levels" with "inventory counts"'],
         "data_types", ["prescriptions", "inventory counts"]),
        (["consistency design for our ride-sharing app: reserve bike, unlock bike",
          "oh wait, I wrote ride-sharing but I meant bike-sharing, no cars involved"],
         "system", "our bike-sharing app"),
        (["consistency design: our team is building Scribbly, a collaborative editor. "
          "Operations: edit paragraph, leave comment",
          "sorry, I said Scribbly but we renamed it to Inkwell last week"],
         "system", "Inkwell (collaborative editor)"),
        (["cap analysis for our plant app: user accounts, watering schedules",
          "what is a quorum again?",
          "oh and we also keep soil moisture readings, can you add those too?"],
         "data_types", ["user accounts", "watering schedules", "soil moisture readings"]),
        (["*resilience design* for our flight site\n*services*\n• search service\n"
          "• booking service\n*calls*\n1. search → booking"],
         "dependencies", ["search service -> booking service"]),
        (["resilience design for our tutoring app: web frontend calls matching service",
          "can you rename matching service to tutor search service? That's what it's "
          "called in our repo now."],
         "dependencies", ["web frontend -> tutor search service"]),
        (["consistency design. system: course registration. ops: enroll, drop course",
          "rename enroll -> add course. also add swap section"],
         "operations", ["add course", "drop course", "swap section"]),
        (["consistency design for ProctorNest, our exam platform. ops: start exam, submit answer",
          "consistency design for ProctorNest: start exam, submit answer, view results"],
         "system", "ProctorNest (exam platform)"),
        (["Hello, I would like to make the CAP analyse for my project, is it possible?",
          "Yes of course. It is a used books exchange for the students of my university."],
         "system", "used books exchange"),
        (["resilience design, campus cafeteria payments"], "system", "campus cafeteria payments"),
        (["resilience design for our quiz app. From the wiki:\n\n| Service | Calls |\n|---|---|\n"
          "| web app | quiz api |\n| quiz api | score db, mailer |\n| mailer | none |"],
         "dependencies", ["web app -> quiz api", "quiz api -> score db", "quiz api -> mailer"]),
        (["resilience design for our bakery shop", "Services is: gateway, order service, oven "
          "service. Gateway call order service. Order service call oven service."],
         "dependencies", ["gateway -> order service", "order service -> oven service"]),
        (["resilience design for our blog: editor calls render service, render service calls cdn",
          "update: editor no longer calls render service. It calls preview service, which calls "
          "render service."],
         "dependencies", ["render service -> cdn", "editor -> preview service",
                          "preview service -> render service"]),
        (["consistency design for our canteen app: view menu, order meal, pay meal, rate meal",
          "merge 2 and 3 into checkout please"],
         "operations", ["view menu", "checkout", "rate meal"]),
        (["event-driven design for Zipride: riders, drivers, trips"], "system", "Zipride"),
        (["event-driven design for our bakery: orders, ovens. events: order placed",
          "pls add oven preheated as an event"],
         "events", ["order placed", "oven preheated"]),
        (["event-driven design for our bakery: customers, orders, ovens",
          "could you call 'customers' 'buyers'? that's the word in our code"],
         "entities", ["buyers", "orders", "ovens"]),
        (["resilience design for our radio app. Architecture:\n\nService | Calls\n--- | ---\n"
          "player | stream-api\nstream-api | cdn, auth\ncdn | \u2014"],
         "dependencies", ["player -> stream-api", "stream-api -> cdn", "stream-api -> auth"]),
        (["resilience design for our radio app: player -> stream-api, stream-api -> auth",
          "correction: the player also reads auth directly"],
         "dependencies", ["player -> stream-api", "stream-api -> auth", "player -> auth"]),
        (["resilience design for our radio app: player -> stream-api, stream-api -> auth",
          "oops, *player -> auth* instead of stream-api -> auth"],
         "dependencies", ["player -> stream-api", "player -> auth"]),
        (["resilence desgin for my projet", "sytem is Shelfy, with scanner, catalog and "
          "pricing servcies", "scanner calls catalog. oh and theres also a cache that catalog "
          "calls"],
         "dependencies", ["catalog -> cache", "scanner -> catalog"]),
        (["cap analysis for my project pls", "its a gym tracker",
          "it keeps workouts, personal bests and routines. oh and the app is called Liftly btw"],
         "data_types", ["workouts", "personal bests", "routines"]),
        (["consistency desgin for Ferrylog pls"], "system", "Ferrylog"),
        (["Please make the consistency design for my system. Its name is Bracketeer. Users "
          "sign up a team and report the match result."], "system", "Bracketeer"),
        (["resilience design for a rail signal maintenance system. System is Semafor.",
          "Services: work order service, crew app backend. The crew app backend use work "
          "order service."],
         "dependencies", ["crew app backend -> work order service"]),
        (["resilience design for Ringlog: field app sync calls ring registry",
          "also there is photo storage, it is called by field app sync"],
         "dependencies", ["field app sync -> ring registry", "field app sync -> photo storage"]),
        (["Resilience design for Plowline please. From our compose notes:\n\nservices:\n"
          "  plow-tracker:    {calls: [route-planner]}\n  route-planner:   {calls: [roads]}\n"
          "  roads: {calls: []}"],
         "dependencies", ["plow-tracker -> route-planner", "route-planner -> roads"]),
        (["resilience design for Reefwatch: sensor gateway -> dosing controller, "
          "sensor gateway -> alerting, dashboard -> sensor gateway",
          "\u2022 rename alerting \u2192 pager service\n\u2022 the dashboard doesn't call the "
          "gateway directly, it calls the dosing controller"],
         "dependencies", ["sensor gateway -> dosing controller", "sensor gateway -> pager service",
                          "dashboard -> dosing controller"]),
        (["event-driven design for Partitura: musician, score, part, rehearsal",
          "the score and the part are the same thing for us, please combine them into "
          "'sheet music part'"],
         "entities", ["musician", "sheet music part", "rehearsal"]),
        (["consistency design. chess club ratings. ops: report game result, view rating, "
          "view leaderboard", "drop leaderboard."],
         "operations", ["report game result", "view rating"]),
        (["Event-driven design please. Our domain model:\n\n| Aggregate | Notes |\n|---|---|\n"
          "| Launch | one per sounding |\n| Radiosonde | the instrument |\n"
          "| Telemetry frame | 1 Hz packets |"],
         "entities", ["Launch", "Radiosonde", "Telemetry frame"]),
        (["consistency design for a permit portal. operations:\n\u2022 apply for a permit\n"
          "\u2022 renew a permit\n\u2022 pay a parking fine",
          "\u2022 change the 3rd one to *dispute a parking fine*\n\u2022 drop renew"],
         "operations", ["apply for a permit", "dispute a parking fine"]),
        (["consistency design for Cellarshare: reserve a bottle, transfer shares, view cellar",
          'we renamed the second one last week, it\'s "sell shares" now'],
         "operations", ["reserve a bottle", "sell shares", "view cellar"]),
        (["consistency design for JudgeBench: submit a score, view our feedback",
          "make 'view our feedback' just 'view feedback'"],
         "operations", ["submit a score", "view feedback"]),
        (["consistency design for our film fest vote. ops: cast a ballot, close voting",
          "oh and jury members can change their vote, add that as 'change ballot'",
          "also systm name is Reelvote"],
         "operations", ["cast a ballot", "close voting", "change ballot"]),
        (["consistency design for Cruxboard\n\u2022 log a send\n\u2022 strip a route",
          "\u2022 'strip a route' \u2192 rename to 'retire a route'\n\u2022 add: vote on grade"],
         "operations", ["log a send", "retire a route", "vote on grade"]),
        (["resilience design for Flashdeck: deck service, sync service, speech scoring service",
          "speech scoring isn't really part of our backend, it's a third-party thing we just "
          "wrap. Could you drop it?"],
         "services", ["deck service", "sync service"]),
        (["event-driven design for a dog shelter: dogs, adopters, kennels",
          "For events I'm thinking a dog arrives at intake, an application gets submitted, "
          "and the dog goes home. Oh and actually kennels aren't really needed, take that out."],
         "entities", ["dogs", "adopters"]),
    ],
)  # fmt: skip
def test_answers_and_edits_in_the_shapes_students_use(app, steps, slot, expected):
    thread = Thread(app)
    for text in steps:
        reply = thread.say(text)
    assert reply.template.slots[slot] == expected


def test_the_trace_names_an_aside(app):
    thread = Thread(app)
    thread.say("Can you do a CAP analysis for my chat app?")
    assert "read as a aside" in thread.read_as("btw whats a quorum")


def test_the_turn_examples_need_every_label(tmp_path):
    bad = tmp_path / "turn-examples.yaml"
    bad.write_text("turns:\n  answer: [a]\n  question: [b]\n")
    with pytest.raises(ValueError, match="abandon"):
        load_turn_examples(bad)


def test_the_sentence_that_asks_picks_the_template_over_a_long_description(app):
    reply = Thread(app).say(
        "Hi! My flatmates and I are building Splitly, an app for sharing costs in a flat "
        "(rent, bills, food). Could you help us work out what consistency each operation "
        "needs? The main ones are add cost, settle debt and view balance."
    )
    assert reply.template.id == "consistency-design"
