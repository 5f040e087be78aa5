"""Study groups, leaderboards (AP, rebuildable) and linking one student's accounts."""

from datetime import UTC, datetime

import pytest

from bot.core.errors import InputError, NotFoundError
from bot.core.models import Address, Incoming
from bot.quiz.bank import MultipleChoice
from bot.quiz.service import POINTS
from tests.conftest import COURSE

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TENANT = "slack:T1"


def account(user, platform="slack", tenant="T1", name=""):
    return Incoming(Address(platform, tenant, "C1"), user, "quiz", "t", display_name=name)


def review(app, who, correct=True, offset=0):
    """One multiple-choice review of an item this student has not seen, right or wrong."""
    seen = app.quiz.stats(who, COURSE).cards
    items = [
        i for i in app.catalog.quiz_bank(COURSE).items.values() if isinstance(i, MultipleChoice)
    ]
    item = items[seen + offset]
    prompt = app.quiz.next_prompt(who, COURSE, item_id=item.id)
    right = prompt.options.index(item.answer)
    index = right if correct else (right + 1) % len(item.options)
    return app.quiz.answer(who, prompt.prompt_id, "abcde"[index])


@pytest.fixture
def quiz(app):
    app.quiz.clock = lambda: NOW
    return app


def test_groups_leaderboards_and_streak(quiz):
    groups = quiz.quiz.groups
    ada, bob = account("U1", name="Ada"), account("U2", name="Bob")
    a, b = quiz.quiz.person(ada), quiz.quiz.person(bob)
    assert groups.create(TENANT, a, "Raft Fans", NOW) == "raft-fans"
    with pytest.raises(InputError, match="already exists"):
        groups.create(TENANT, b, "raft fans", NOW)
    groups.join(TENANT, b, "Raft Fans")
    assert groups.list(TENANT) == [("Raft Fans", 2)]
    assert groups.members(TENANT, "raft fans") == ["Ada", "Bob"]

    review(quiz, ada)
    review(quiz, ada)
    review(quiz, bob)
    review(quiz, bob, correct=False)
    week = groups.leaderboard(TENANT, "Raft Fans", "week", NOW.date())
    assert [(s.name, s.points) for s in week] == [("Ada", 4), ("Bob", 2)]
    assert groups.leaderboard(TENANT, "Raft Fans", "all", NOW.date()) == week
    assert groups.streak(TENANT, "Raft Fans", NOW.date()) == 1

    # AP: wipe the boards, rebuild them from the review logs.
    for key in quiz.redis.scan_iter(match=f"{quiz.keys.tenant(TENANT)}:group:*:lb:*"):
        quiz.redis.delete(key)
    assert groups.leaderboard(TENANT, "Raft Fans", "all", NOW.date()) == []
    assert groups.rebuild(TENANT, {r.name.lower(): p for r, p in POINTS.items()}) == 1
    assert groups.leaderboard(TENANT, "Raft Fans", "all", NOW.date()) == week

    groups.leave(TENANT, b, "Raft Fans")
    assert [s.name for s in groups.leaderboard(TENANT, "Raft Fans", "week", NOW.date())] == ["Ada"]
    with pytest.raises(InputError, match="not in"):
        groups.leave(TENANT, b, "Raft Fans")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("x", "2-32"),
        ("a" * 40, "2-32"),
        ("<!channel> fans", "2-32"),
        ("*bold* ~strike~", "2-32"),
        ("@everyone", "2-32"),
    ],
)
def test_bad_group_names_are_refused(quiz, name, error):
    with pytest.raises(InputError, match=error):
        quiz.quiz.groups.create(TENANT, "p", name, NOW)
    assert quiz.quiz.groups.list(TENANT) == []


def test_unknown_group_is_refused(quiz):
    with pytest.raises(NotFoundError, match="no group called"):
        quiz.quiz.groups.join(TENANT, "p", "ghosts")


def test_groups_are_scoped_per_tenant(quiz):
    quiz.quiz.groups.create(TENANT, "p", "Paxos", NOW)
    assert quiz.quiz.groups.list("discord:G9") == []


def test_linking_merges_cards_streaks_and_groups_across_platforms(quiz):
    slack, discord = account("U1", name="Ada"), account("42", "discord", "G1", name="ada#1")
    review(quiz, slack)
    quiz.quiz.groups.create("discord:G1", quiz.quiz.person(discord), "Gossip", NOW)
    review(quiz, discord, offset=5)
    before = quiz.quiz.stats(slack, COURSE).cards + quiz.quiz.stats(discord, COURSE).cards

    code = quiz.quiz.link_code(slack)
    assert len(code) == 6
    with pytest.raises(InputError, match="wrong or has expired"):
        quiz.quiz.redeem_link(discord, "ZZZZZZ")
    person = quiz.quiz.redeem_link(discord, code.lower())
    assert quiz.quiz.person(discord) == quiz.quiz.person(slack) == person
    stats = quiz.quiz.stats(discord, COURSE)
    assert stats.cards == before and stats.reviewed_today == 2 and stats.streak == 1
    board = quiz.quiz.groups.leaderboard("discord:G1", "Gossip", "all", NOW.date())
    assert [s.person for s in board] == [person]
    with pytest.raises(InputError, match="wrong or has expired"):
        quiz.quiz.redeem_link(discord, code)  # one-time
