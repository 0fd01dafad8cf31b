"""What the entry scripts share: resolvers, and turning user errors into one line and an exit code."""

import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

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
        if _in_multirun():
            # sys.exit would end the whole sweep: Hydra records a raised error as this job failing
            # (Optuna: a failed trial) and goes on with the next one. The line lands in the job's log.
            logging.getLogger(__name__).error("error: %s", e)
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
