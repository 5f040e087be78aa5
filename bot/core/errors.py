"""Errors the user can fix: the CLI maps them to exit code 2, adapters to a short reply."""


class InputError(ValueError):
    """Bad input from a user: a short, human message and no traceback."""


class NotFoundError(InputError):
    """The user named something that does not exist (a course, a path, a template)."""


class NotAllowedError(InputError):
    """The user may not do this (e.g. change a channel's course without being a manager)."""


class StateUnavailableError(Exception):
    """State that must be consistent (CP) cannot be written right now; nothing was changed."""
