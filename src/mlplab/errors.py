"""User-facing errors and exit codes: the scripts print them as one line, without a traceback."""


class UserError(ValueError):
    """Bad input that the user can fix; the message names the key, file or value and what is allowed."""


def needs_a_value(key: str | None) -> UserError:
    """A mandatory config value (``???``) left unset."""
    return UserError(f"{key}: needs a value (it is ???); set it, e.g. {key}=...")


class TrainingDiverged(Exception):
    """The loss or the weights became NaN/inf; the message says when and what to change."""


class Interrupted(BaseException):
    """SIGINT/SIGTERM stopped the run after its checkpoint was saved; no ``except Exception`` may swallow it."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM


EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3
