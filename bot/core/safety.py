"""Output safety for every adapter: neutralise mass mentions, redact secrets in replies and logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# A zero-width space after "@" keeps the text readable but stops the ping.
_ZWSP = "\u200b"
_SLACK_SPECIAL = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>", re.IGNORECASE)
_SLACK_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(\|([^>]*))?>", re.IGNORECASE)
_DISCORD_ROLE = re.compile(r"<@&(\d+)>")
_BARE_MASS = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)

# Token shapes of the services the bot talks to, plus generic bearer/API keys.
_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack bot/user/app tokens
    re.compile(r"xapp-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
    re.compile(r"sk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API keys
    re.compile(r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}"),  # Discord
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{16,}"),
]
REDACTED = "[redacted]"


def neutralize_mentions(text: str) -> str:
    """Make @everyone, @here, <!channel>, <!subteam^...> and role mentions ping nobody."""
    text = _SLACK_SPECIAL.sub(lambda m: f"@{_ZWSP}{m.group(1).lower()}", text)
    text = _SLACK_SUBTEAM.sub(lambda m: f"@{_ZWSP}{(m.group(2) or 'group').lstrip('@')}", text)
    text = _DISCORD_ROLE.sub(f"@{_ZWSP}role", text)
    return _BARE_MASS.sub(lambda m: f"@{_ZWSP}{m.group(1)}", text)


class SecretRedactor:
    """Removes known secret values and token-shaped strings from text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Short values would redact ordinary words; real secrets are long.
        self._values = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Redact every secret in `text`."""
        for value in self._values:
            text = text.replace(value, REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text


_RECORD_FIELDS = {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime"}


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from every record's message and arguments."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self._redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        # Fields passed with `extra=` (JSON logs print them all).
        for name, value in list(vars(record).items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, self._redact(value))
        return True


def install_log_redaction(redactor: SecretRedactor) -> None:
    """Attach the redacting filter to every root handler, so no log line carries a secret."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))


_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def strip_images(text: str) -> str:
    """Drop Markdown and HTML images: an outside image URL can leak data when rendered."""
    return _HTML_IMG.sub("", _IMAGE.sub(lambda m: m.group(1), text))


def safe_text(text: str) -> str:
    """What every reply goes through before it leaves the core."""
    return neutralize_mentions(strip_images(text))
