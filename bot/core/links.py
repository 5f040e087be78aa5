"""Links to a course file's page: which URLs its front matter may name, and their encoding."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

MAX_URL_CHARS = 500
SCHEMES = ("http", "https")


def check_url(value: object) -> str:
    """The URL a front matter `url:` names, or "" for none; ValueError says what is wrong.

    Only http(s) with a host: anything else (javascript:, data:, file:) could run or read
    something when a student clicks it. Credentials are refused too, since
    `https://trusted@evil` reads as the trusted site but goes to the other.
    """
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError("must be a link as text")
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"is longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url) or "\\" in url:
        raise ValueError("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError("is not a valid link") from exc
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise ValueError("must be an http or https link")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    return url


def safe_url(url: str | None) -> str | None:
    """The URL if it still passes `check_url` (an index may predate the check), else None."""
    try:
        return check_url(url) or None
    except ValueError:
        return None


def percent_encode(url: str, characters: str) -> str:
    """Percent-encode `characters` in a URL: the ones a chat's link markup would end on."""
    return "".join(f"%{ord(ch):02X}" if ch in characters else ch for ch in url)
