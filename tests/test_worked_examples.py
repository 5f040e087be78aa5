"""The course's worked example: one app carried through all four prompt templates, on every face."""

import pytest

from bot.core.errors import InputError, NotFoundError
from tests.conftest import COURSE, call
from tests.test_discord import discord_bot  # noqa: F401  (fixtures)
from tests.test_slack import blocks_of, slack  # noqa: F401

TEMPLATES = ["cap-analysis", "consistency-design", "event-driven-design", "resilience-design"]


def test_every_template_has_a_worked_example_for_the_same_app(app):
    assert sorted(app.worked_examples.available(COURSE)) == TEMPLATES
    shown = {t: app.worked_examples.show(COURSE, t) for t in TEMPLATES}
    assert all("food-delivery app" in text.splitlines()[0] for text in shown.values())
    cap = shown["cap-analysis"]
    rows = [line for line in cap.splitlines() if line.startswith("|")]
    assert len(rows) >= 5 and len(set(rows)) == len(rows)  # one table, each row once
    with pytest.raises(InputError, match="unknown template"):
        app.worked_examples.show(COURSE, "nope")
    with pytest.raises(NotFoundError, match="no worked example"):
        app.worked_examples.show("some-other-course", "cap-analysis")


def test_the_cli_shows_a_worked_example(cli_env, capsys):
    code, out, _ = call(capsys, "templates", "--example", "resilience-design")
    assert code == 0 and "Worked example: resilience design" in out
    assert call(capsys, "templates", "--example", "nope")[0] == 2


def test_slack_offers_a_worked_example_from_the_template_list(slack):  # noqa: F811
    slack.command("template")
    listing = slack.api.wait_for("chat.postEphemeral")[0]
    buttons = [e for b in blocks_of(listing) if b["type"] == "actions" for e in b["elements"]]
    assert sorted(b["value"] for b in buttons) == TEMPLATES
    slack.action("template_example", "event-driven-design")
    shown = slack.api.wait_for("chat.postEphemeral", 2)[1]
    assert "Worked example: event-driven architecture design" in str(blocks_of(shown))
    slack.command("template cap-analysis example")
    typed = slack.api.wait_for("chat.postEphemeral", 3)[2]
    assert "Worked example: CAP trade-off analysis" in str(blocks_of(typed))


def test_discord_shows_a_worked_example_on_request(discord_bot):  # noqa: F811
    payload = discord_bot.command("template", template="consistency-design", example=True)
    sent = discord_bot.api.wait_for(f"/webhooks/888/{payload['token']}")
    assert "Worked example: consistency model design" in sent[0]["content"]
