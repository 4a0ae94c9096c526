"""The one exception type for mistakes a user can fix; the CLI prints it on one line."""


class GankitError(Exception):
    """A user-facing error: bad input, missing data, corrupt files. Message says what to do."""
