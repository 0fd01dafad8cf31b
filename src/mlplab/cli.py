"""What the entry scripts share: resolvers, and turning user errors into one line and an exit code."""

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from mlplab.errors import EXIT_USER_ERROR, UserError

T = TypeVar("T")


def run_reporting_errors(task: Callable[[], T]) -> T:
    """Runs ``task``; bad input ends the process with one line on stderr and exit code 2.

    ``HYDRA_FULL_ERROR=1`` shows the traceback instead, as it does for Hydra's own errors.
    """
    try:
        return task()
    except (UserError, ValueError) as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)
