"""User-facing errors: the scripts print them as one line and exit non-zero, without a traceback."""


class UserError(Exception):
    """Bad input that the user can fix; the message names the key, file or value and what is allowed."""


EXIT_USER_ERROR = 2
