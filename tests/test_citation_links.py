"""Front matter `url:`: ingested for real, a link on Slack and Discord, text in the CLI."""

import json
import re
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from bot.adapters.console import source_line
from bot.adapters.discord.translate import citation_value, reply_embeds
from bot.adapters.slack.translate import citation_mrkdwn, render_reply
from bot.config import DiscordSettings, RedisSettings, Settings, SlackSettings
from bot.core.links import MAX_URL_CHARS, check_url
from bot.core.models import Chunk, Citation, Passage, Reply
from bot.standins.slack_api import SlackAPIStub
from bot.wiring import Container
from tests.conftest import call
from tests.fakes.discord_api import DiscordAPIStub

COURSE = "linked"
URL = "https://course.example/fault-tolerance?part=2&lang=en"
LABEL = "Resilience notes \u203a Backoff with jitter"
QUESTION = "why add randomness to retry delays"
# Labels and URLs built to break out of a link: each face's link syntax, and a script URL.
HOSTILE_LABEL = "a|b>c<d&e] (f) [g](javascript:alert(1)) `h` *i* <https://evil.example|x>"
HOSTILE_URL = "https://course.example/p|q>r<s&t(u)[v]"


def with_url(text: str, url: str) -> str:
    """A fixture course file with `url:` added to its front matter."""
    return text.replace("---\n", f"---\nurl: {url}\n", 1)


@pytest.fixture(scope="module")
def linked(tmp_path_factory, models_dir):
    """A data dir with a course of three files ingested: one linked, one not, one refused."""
    from bot.config import REPO_ROOT

    fixtures = REPO_ROOT / "tests" / "fixtures"
    folder = tmp_path_factory.mktemp("knowledge") / COURSE
    folder.mkdir()
    resilience = (fixtures / "06-fault-tolerance.md").read_text()
    (folder / "06-fault-tolerance.md").write_text(with_url(resilience, URL))
    (folder / "01-cap.md").write_text((fixtures / "01-cap.md").read_text())
    (folder / "09-script.md").write_text(with_url(resilience, "javascript:alert(1)"))
    data_dir = tmp_path_factory.mktemp("linked-data")
    container = Container(Settings(data_dir=data_dir, models_path=models_dir))
    report = container.ingestor.ingest([folder], COURSE)
    return data_dir, folder, report, container


def settings(linked, models_dir, redis_url, redis_prefix, **extra) -> Settings:
    data_dir = linked[0]
    redis = RedisSettings(url=redis_url, key_prefix=redis_prefix)
    return Settings(data_dir=data_dir, models_path=models_dir, default_course=COURSE,
                    redis=redis, **extra)  # fmt: skip


# ---- ingest and the Chroma round trip ----


def test_a_script_url_is_skipped_with_a_reason_naming_the_field(linked):
    _, folder, report, _ = linked
    assert report.skipped == [
        (str(folder / "09-script.md"), "bad front matter: 'url' must be an http or https link")
    ]
    assert report.files == 2


def test_every_chunk_of_a_linked_file_carries_its_url_through_chroma(linked):
    chunks = list(linked[3].index.chunks(COURSE))
    urls = {path: {c.url for c in chunks if c.path == path} for path in {c.path for c in chunks}}
    assert urls == {"06-fault-tolerance.md": {URL}, "01-cap.md": {""}}


def test_changing_only_the_url_updates_the_chunks(make_settings, course_dir, redis_url):
    # The test Redis: an embedded server would outlive the test.
    container = Container(make_settings(redis=RedisSettings(url=redis_url)))
    container.ingestor.ingest([course_dir], "mini")
    target = course_dir / "06-fault-tolerance.md"
    original = target.read_text()
    target.write_text(with_url(original, URL))
    linked_run = container.ingestor.ingest([course_dir], "mini")
    target.write_text(original)
    unlinked_run = container.ingestor.ingest([course_dir], "mini")
    resilience = [c for c in container.index.chunks("mini") if c.path == target.name]
    assert linked_run.updated == unlinked_run.updated == len(resilience) > 0
    assert linked_run.added == linked_run.removed == 0
    assert {c.url for c in resilience} == {""}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("javascript:alert(1)", "must be an http or https link"),
        ("data:text/html,<b>x</b>", "must be an http or https link"),
        ("file:///etc/passwd", "must be an http or https link"),
        ("https://", "must be an http or https link"),
        ("https://trusted.example@evil.example/", "must not contain a user name or password"),
        ("https://x.example/a b", "must not contain spaces, control characters or backslashes"),
        ("https://x.example/\u202e", "must not contain spaces, control characters or backslashes"),
        ("https://x.example/" + "a" * MAX_URL_CHARS, f"is longer than {MAX_URL_CHARS} characters"),
        (["https://x.example/"], "must be a link as text"),
    ],
)
def test_check_url_refuses_what_is_not_a_plain_web_link(value, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_url(value)


def test_check_url_keeps_web_links_and_treats_empty_as_none():
    assert check_url("  HTTPS://Course.example/x?a=1&b=(2)#part  ") == (
        "HTTPS://Course.example/x?a=1&b=(2)#part"
    )
    assert check_url(None) == check_url("") == ""


# ---- Slack and Discord, end to end over their HTTP stand-ins ----


def test_slack_links_the_citation_of_a_file_with_a_url(linked, models_dir, redis_url, redis_prefix):
    from tests.test_slack import SECRET, TOKEN, SlackHarness, blocks_of, mention

    api = SlackAPIStub().start()
    slack = SlackSettings(bot_token=TOKEN, signing_secret=SECRET, api_url=api.base_url)
    container = Container(settings(linked, models_dir, redis_url, redis_prefix, slack=slack))
    harness = SlackHarness(container, api)
    try:
        assert harness.event(mention(QUESTION), event_id="EvLink")[0] == 200
        [update] = api.wait_for("chat.update")
    finally:
        harness.stop()
        api.stop()
    [sources] = [
        e["text"] for b in blocks_of(update) if b["type"] == "context" for e in b["elements"]
        if e["text"].startswith("Sources:")
    ]  # fmt: skip
    slack_url = URL.replace("&", "&amp;")
    assert f"<{slack_url}|{LABEL}>" in sources
    # Each of the linked file's sources is a link; the CAP file names no page and is text.
    for part in sources.removeprefix("Sources: ").split(" \u00b7 "):
        linked_file = "Resilience notes" in part
        assert part.startswith(f"<{slack_url}|") == linked_file and ("<" in part) == linked_file


def test_discord_links_the_citation_of_a_file_with_a_url(
    linked, models_dir, redis_url, redis_prefix
):
    from tests.test_discord import TOKEN, DiscordHarness

    api = DiscordAPIStub().start()
    discord = DiscordSettings(token=TOKEN, api_url=api.base_url)
    container = Container(settings(linked, models_dir, redis_url, redis_prefix, discord=discord))
    harness = DiscordHarness(container, api)
    try:
        payload = harness.command("ask", question=QUESTION)
        [follow] = api.wait_for(f"/webhooks/888/{payload['token']}")
    finally:
        harness.stop()
        api.stop()
    fields = [f["value"] for embed in follow["embeds"] for f in embed.get("fields", [])]
    assert f"[{LABEL}]({URL})" in fields
    for value in fields:
        linked_file = "Resilience notes" in value
        assert value.endswith(f"]({URL})") == linked_file and ("](" in value) == linked_file


# ---- the CLI and `ask --json` ----


@pytest.fixture
def linked_cli(monkeypatch, linked, models_dir, redis_url, redis_prefix):
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(linked[0]))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(models_dir))
    monkeypatch.setenv("STUDYBOT_DEFAULT_COURSE", COURSE)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", redis_prefix)
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    monkeypatch.delenv("STUDYBOT_LLM", raising=False)


def test_cli_shows_path_and_url_as_text_and_json_keeps_its_shape(linked_cli, capsys):
    code, out, _ = call(capsys, "ask", QUESTION)
    assert code == 0
    assert f"- {LABEL} (06-fault-tolerance.md \u00b7 {URL})" in out
    code, out, _ = call(capsys, "ask", "--json", QUESTION)
    data = json.loads(out)
    assert code == 0 and data["sources"][0]["path"] == "06-fault-tolerance.md"
    assert all(
        set(s) == {"path", "title", "section", "concept", "score", "text"} for s in data["sources"]
    )
    assert "course.example" not in out  # the JSON contract is unchanged: no url anywhere
    code, out, _ = call(capsys, "search", QUESTION)
    assert f"06-fault-tolerance.md \u00b7 {URL} \u00b7 score" in out


def test_cli_ingest_reports_the_refused_url(linked_cli, linked, capsys):
    code, _, err = call(capsys, "ingest", str(linked[1] / "09-script.md"), "--course", COURSE)
    assert code == 2
    assert "09-script.md: bad front matter: 'url' must be an http or https link" in err


# ---- rendering: a label or URL cannot break out of the link ----


def reply_citing(label: str, url: str, path: str = "notes.md") -> Reply:
    chunk = Chunk("c1", COURSE, path, f"/x/{path}", label, "", label, (), "text", "h", url=url)
    passage = Passage(chunk, 1.0)
    return Reply("Answer.", "extractive", True, None, [passage], citations=[passage.citation])


def test_a_hostile_label_and_url_stay_one_slack_link():
    reply = reply_citing(HOSTILE_LABEL, HOSTILE_URL)
    [citation] = reply.cited()
    _, blocks = render_reply(reply)
    text = blocks[-2]["elements"][0]["text"]
    link = citation_mrkdwn(citation)
    assert text == f"Sources: {link}"
    # One link: a single `<`...`>`, the first `|` splitting URL from label.
    match = re.fullmatch(r"<([^<>|\s]+)\|([^<>]*)>", link)
    assert match, link
    url, label = match.groups()
    assert url == "https://course.example/p%7Cq%3Er%3Cs&amp;t(u)[v]"
    unescaped = label.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == HOSTILE_LABEL


def test_a_hostile_label_and_url_stay_one_discord_link():
    reply = reply_citing(HOSTILE_LABEL, HOSTILE_URL)
    [citation] = reply.cited()
    value = citation_value(citation)
    [embed] = reply_embeds(reply)
    assert embed.fields[0].value == value
    inline = MarkdownIt("commonmark").parseInline(value)[0].children
    links = [t for t in inline if t.type == "link_open"]
    assert len(links) == 1 and inline[0].type == "link_open" and inline[-1].type == "link_close"
    # The whole URL, no more and no less, is where the link goes (CommonMark re-encodes `|`).
    assert unquote(str(links[0].attrs["href"])) == HOSTILE_URL
    assert "".join(t.content for t in inline if t.type == "text") == HOSTILE_LABEL


def test_an_unchecked_script_url_is_never_linked():
    # An index written by hand or by an older version: the faces check again.
    reply = reply_citing("Notes", "javascript:alert(1)")
    [citation] = reply.cited()
    assert citation_mrkdwn(citation) == "Notes" and citation_value(citation) == "Notes"


def test_a_citation_without_a_url_renders_as_before():
    reply = reply_citing("CAP notes \u203a <b>Per data type</b> [x](y)", "")
    _, blocks = render_reply(reply)
    assert blocks[-2]["elements"][0]["text"] == (
        "Sources: CAP notes \u203a &lt;b&gt;Per data type&lt;/b&gt; [x](y)"
    )
    [embed] = reply_embeds(reply)
    assert embed.fields[0].value == "CAP notes \u203a <b>Per data type</b> [x](y)"
    bare = Reply("Answer.", "extractive", True, None, citations=["Title \u203a Section"])
    assert bare.cited() == [Citation("Title \u203a Section")]
    assert source_line(bare.cited()[0]) == "- Title \u203a Section"


def test_the_terminal_prints_label_path_and_url_as_plain_text():
    from io import StringIO

    from rich.console import Console

    from bot.adapters.console import render

    reply = reply_citing("[link](javascript:x) **bold**", URL)
    console = Console(file=StringIO(), width=300, force_terminal=True)
    console.print(render(reply))
    shown = console.file.getvalue()
    assert "- [link](javascript:x) **bold** (notes.md \u00b7 " + URL + ")" in shown
    assert "\x1b]8;" not in shown  # no terminal hyperlink was made of it
