import logging

from bot.core.safety import SecretRedactor, install_log_redaction, neutralize_mentions, safe_text


def test_mass_mentions_are_neutralised_on_every_platform():
    text = (
        "hi @everyone and @here, <!channel> <!here|here> <!everyone> "
        "<!subteam^S123|@oncall> <@&987654321>"
    )
    out = neutralize_mentions(text)
    for ping in ("@everyone", "@here", "<!channel>", "<!here", "<!everyone>", "<!subteam", "<@&"):
        assert ping not in out
    assert "everyone" in out and "oncall" in out  # still readable


def test_images_are_stripped_but_their_alt_text_kept():
    out = safe_text("see ![diagram](https://evil.example/x.png?q=secret) <img src='http://a/b'>")
    assert "evil.example" not in out and "<img" not in out and "diagram" in out


def test_secret_values_and_token_shapes_are_redacted():
    redact = SecretRedactor(["my-signing-secret-123", "short"])
    text = (
        "xoxb-123456789-abcdefghij xapp-1-A0-123-abcdef sk-proj-abcdefghijklmnopqrstu "
        "Bearer abcdefghijklmnopqrstuvwx my-signing-secret-123 short"
    )
    out = redact(text)
    assert "xoxb-" not in out and "xapp-" not in out and "sk-proj" not in out
    assert "abcdefghijklmnopqrstuvwx" not in out and "my-signing-secret-123" not in out
    assert "short" in out  # too short to be a secret; redacting it would mangle text


def test_log_lines_are_redacted():
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_redaction(SecretRedactor(["hunter2-super-secret"]))
        records = []
        handler.emit = records.append  # capture what the handler would write
        logging.getLogger("bot.test").warning("token is %s", "hunter2-super-secret")
        assert records and "hunter2-super-secret" not in records[0].getMessage()
    finally:
        root.removeHandler(handler)
