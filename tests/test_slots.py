import pytest

from bot.config import REPO_ROOT
from bot.core.lists import clean_item
from bot.core.slots import extract_slots, split_list
from bot.core.spelling import fix_frame_typos
from bot.templates import PromptLibrary

LIB = PromptLibrary(REPO_ROOT / "prompts")

CASES = [
    (
        "cap-analysis",
        "Analyze the CAP trade-offs for a ride-sharing app. Data types: driver locations, "
        "trip payments, ratings",
        {
            "system": "a ride-sharing app",
            "data_types": ["driver locations", "trip payments", "ratings"],
        },
    ),
    (
        "cap-analysis",
        "for a ride-sharing app. Data types: driver locations, payments, ratings",
        {"system": "a ride-sharing app", "data_types": ["driver locations", "payments", "ratings"]},
    ),
    ("cap-analysis", "What's the CAP strategy for a chat app?", {"system": "a chat app"}),
    (
        "cap-analysis",
        "for our social network the data types are posts, likes, friend lists and direct messages",
        {
            "system": "our social network",
            "data_types": ["posts", "likes", "friend lists", "direct messages"],
        },
    ),
    (
        "cap-analysis",
        "CP or AP for an online bank? data types include balances; transfers; statements",
        {"system": "an online bank", "data_types": ["balances", "transfers", "statements"]},
    ),
    (
        "cap-analysis",
        "Do a CAP analysis of my multiplayer game with data types = scores & inventories & chat",
        {"system": "my multiplayer game", "data_types": ["scores", "inventories", "chat"]},
    ),
    (
        "cap-analysis",
        "kinds of data: carts, orders and product reviews. It's for an e-commerce site.",
        {"system": "an e-commerce site", "data_types": ["carts", "orders", "product reviews"]},
    ),
    (
        "resilience-design",
        "our checkout service calls payments, inventory and email",
        {
            "system": "our checkout service",
            "dependencies": [
                "checkout service -> payments",
                "checkout service -> inventory",
                "checkout service -> email",
            ],
            "services": ["checkout service", "payments", "inventory", "email"],
        },
    ),
    (
        "resilience-design",
        "Design fault tolerance for a travel site where booking -> payments, booking -> flights "
        "and flights -> pricing",
        {
            "system": "a travel site",
            "dependencies": ["booking -> payments", "booking -> flights", "flights -> pricing"],
            "services": ["booking", "payments", "flights", "pricing"],
        },
    ),
    (
        "resilience-design",
        "resilience for our food app. Services: orders, kitchen, delivery. The orders service "
        "calls kitchen and delivery",
        {
            "system": "our food app",
            "services": ["orders", "kitchen", "delivery"],
            "dependencies": ["orders -> kitchen", "orders -> delivery"],
        },
    ),
    (
        "resilience-design",
        "Our API gateway depends on auth and search",
        {
            "system": "Our API gateway",
            "dependencies": ["API gateway -> auth", "API gateway -> search"],
            "services": ["API gateway", "auth", "search"],
        },
    ),
    (
        "consistency-design",
        "Design the consistency model for a collaborative editor; operations are edit text, "
        "read document and list comments",
        {
            "system": "a collaborative editor",
            "operations": ["edit text", "read document", "list comments"],
        },
    ),
    (
        "consistency-design",
        "consistency for our banking app. Operations: transfer money, view balance, view history",
        {
            "system": "our banking app",
            "operations": ["transfer money", "view balance", "view history"],
        },
    ),
    (
        "consistency-design",
        "the reads and writes are post a tweet, read timeline, follow a user for a twitter clone",
        {
            "system": "a twitter clone",
            "operations": ["post a tweet", "read timeline", "follow a user"],
        },
    ),
    (
        "event-driven-design",
        "Design an event-driven architecture for a food delivery app. Entities: orders, "
        "restaurants, couriers. Events: order placed, order picked up",
        {
            "system": "a food delivery app",
            "entities": ["orders", "restaurants", "couriers"],
            "events": ["order placed", "order picked up"],
        },
    ),
    (
        "event-driven-design",
        "Design an event-driven architecture for a food delivery app",
        {"system": "a food delivery app"},
    ),
    (
        "event-driven-design",
        "event sourcing for our ticketing platform? entities are tickets, events, venues",
        {"system": "our ticketing platform", "entities": ["tickets", "events", "venues"]},
    ),
    (
        "event-driven-design",
        "events for my library system - entities - books and members; events - loan created, "
        "loan returned",
        {
            "system": "my library system",
            "entities": ["books", "members"],
            "events": ["loan created", "loan returned"],
        },
    ),
    ("cap-analysis", "explain the CAP theorem", {}),
    ("resilience-design", "what is a circuit breaker?", {}),
]


@pytest.mark.parametrize(("template_id", "text", "expected"), CASES)
def test_rules_extract_slots_from_many_phrasings(template_id, text, expected):
    assert extract_slots(LIB.template(template_id), text) == expected


@pytest.mark.parametrize(
    ("template_id", "answering", "reply", "expected"),
    [
        ("cap-analysis", "data_types", "messages, presence and read receipts",
         ["messages", "presence", "read receipts"]),
        ("cap-analysis", "data_types", "- messages\n- presence\n- typing indicators",
         ["messages", "presence", "typing indicators"]),
        ("cap-analysis", "system", "a hotel booking site", "hotel booking site"),
        ("consistency-design", "operations", "edit text / read doc",
         ["edit text", "read doc"]),
    ],
)  # fmt: skip
def test_an_unlabelled_reply_fills_the_slot_that_was_asked_for(
    template_id, answering, reply, expected
):
    values = extract_slots(LIB.template(template_id), reply, answering=answering)
    assert values[answering] == expected


def test_split_list_trims_dedupes_and_caps():
    assert split_list("the A, a B and b, and C.") == ["A", "B", "C"]
    assert len(split_list(", ".join(f"item {i}" for i in range(40)))) == 15


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("sytem is Shelfy", "system is Shelfy"),
        ("Servcies: a, b", "Services: a, b"),
        ("evnets: order placed", "events: order placed"),
        ("resilence desgin", "resilience design"),
        # item words and near-misses of ordinary words stay as written
        (
            "vents opened, protect data, identity servce, storage servcies",
            "vents opened, protect data, identity servce, storage servcies",
        ),
    ],
)
def test_typos_in_the_words_that_frame_a_request_are_set_right(typed, meant):
    assert fix_frame_typos(typed) == meant


@pytest.mark.parametrize(
    ("raw", "item"),
    [
        ("`GET /orders/{id}`", "GET /orders/{id}"),
        ("DELETE /reservations/{id}.", "DELETE /reservations/{id}"),
        ("(payments)", "payments"),
        ("**refunds**:", "refunds"),
        ("cancel order (before 2h)", "cancel order (before 2h)"),
    ],
)
def test_an_item_keeps_only_the_brackets_it_opened(raw, item):
    assert clean_item(raw) == item
