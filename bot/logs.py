"""Log output: plain text for a terminal, or one JSON object per line (STUDYBOT_LOG_FORMAT=json)."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# The request being handled: set by an adapter from its trace's request id. It follows the
# work into the core's thread pools because the adapters run it in a copy of their context.
REQUEST_ID: ContextVar[str | None] = ContextVar("studybot_request_id", default=None)


def bind_request(request_id: str | None) -> None:
    """Tag every log line of the current request (task or thread) with its id."""
    REQUEST_ID.set(request_id)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record."""
        record.request_id = REQUEST_ID.get()
        return True


class JsonLineFormatter(JsonFormatter):
    """time, level, logger, message, request_id (in a request), exc_info; extras follow."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The fixed fields first; request_id only when there is one."""
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)
        keys = ("time", "level", "logger", "message")
        rest = {key: value for key, value in log_data.items() if key not in keys}
        ordered = {key: log_data[key] for key in keys if key in log_data}
        log_data.clear()
        log_data.update({**ordered, **rest})

    def format(self, record: logging.LogRecord) -> str:
        """Use the traceback text the redacting filter already cleaned, never re-format it."""
        if record.exc_info and record.exc_text:
            exc_info, record.exc_info = record.exc_info, None
            try:
                return super().format(record)
            finally:
                record.exc_info = exc_info
        return super().format(record)


def configure_logging(fmt: str, level: int, stream: TextIO) -> logging.Handler:
    """One root handler on `stream`, in text or JSON; returns it.

    Secret redaction is attached later, by the composition root (install_log_redaction),
    as a filter on this handler, so it applies to both formats.
    """
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return handler
