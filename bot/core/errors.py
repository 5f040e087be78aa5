"""Errors the user can fix, and dependencies that are down: each maps to a short reply."""


class InputError(ValueError):
    """Bad input from a user: a short, human message and no traceback."""


class NotFoundError(InputError):
    """The user named something that does not exist (a course, a path, a template)."""


class NotAllowedError(InputError):
    """The user may not do this (e.g. change a channel's course without being a manager)."""


class UnavailableError(Exception):
    """A dependency is unreachable right now; the message is short and safe to show a student."""

    dependency = "a service"


class StateUnavailableError(UnavailableError):
    """State that must be consistent (CP) cannot be written right now; nothing was changed."""

    dependency = "redis"


class IndexUnavailableError(UnavailableError):
    """The course index (Chroma) does not answer, so nothing can be looked up."""

    dependency = "chroma"


INDEX_UNAVAILABLE = (
    "The course index is unreachable right now, so I can't look that up. "
    "Please try again in a minute."
)
