"""Errors the user can fix: the CLI maps them to exit code 2, adapters to a short reply."""


class InputError(ValueError):
    """Bad input from a user: a short, human message and no traceback."""


class NotFoundError(InputError):
    """The user named something that does not exist (a course, a path, a template)."""
