"""One line and an exit code for every way a run can end early: 2 bad input (config, data, checkpoint), 3 training
diverged, 130 Ctrl-C, 143 SIGTERM. Torch-free: the scripts import it for ``--help`` and ``--cfg job``."""

import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, InstantiationException
from hydra.types import RunMode
from omegaconf.errors import MissingMandatoryValue

from mlplab.errors import EXIT_DIVERGED, EXIT_USER_ERROR, Interrupted, TrainingDiverged, UserError, needs_a_value
from mlplab.run import run_dir_snapshot

T = TypeVar("T")


def run_reporting_errors(task: Callable[[], T]) -> T:
    """Runs ``task``; ends the process with one line on stderr and the exit code of what went wrong, and a
    refused start leaves the run dir as it was. ``HYDRA_FULL_ERROR=1`` shows the traceback instead."""
    output_dir = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None
    if output_dir and in_multirun():  # a job's new dir, which Hydra has written to (a single run's: ValidateConfig)
        run_dir_snapshot.take(Path(output_dir), hydra_wrote=True)
    # Ctrl-C or SIGTERM outside training stops at once with 130/143 (training saves first, see callbacks).
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return task()
    except TrainingDiverged as e:
        _exit(e, EXIT_DIVERGED)
    except Interrupted as e:
        print(f"stopped: {e}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)
    except Exception as e:
        error = _bad_input(e)
        if error is None:
            raise  # not the input's fault (a bug, a missing package, a failing device): the traceback says more
        if output_dir:
            run_dir_snapshot.restore(Path(output_dir))
        if error is not e:
            error.__cause__ = e  # HYDRA_FULL_ERROR=1 shows where it came from
        _exit(error, EXIT_USER_ERROR)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def one_line_reason(error: Exception) -> str:
    """``error`` as the one line a run would end with (for anything else: its type and message)."""
    bad = error if isinstance(error, TrainingDiverged) else _bad_input(error)
    return " ".join((str(bad) if bad is not None else f"{type(error).__name__}: {error}").split())


def _bad_input(error: Exception) -> Exception | None:
    """``error`` as the one line to report when the user's input is at fault; None otherwise."""
    cause = error.__cause__ if isinstance(error, InstantiationException) else error
    refused = isinstance(cause, ValueError) or any(
        c.__name__ == "MisconfigurationException" for c in type(cause).__mro__
    )
    message = " ".join(str(cause).split())
    if isinstance(error, InstantiationException) and (refused or isinstance(cause, TypeError)):
        # A class refused its config values (trainer.accelerator=foo): its own reason, under the config key.
        key = re.search(r"^full_key: (.+)$", str(error), re.MULTILINE)
        where = key[1] if key else str(error).splitlines()[0]
        return UserError(message if message.startswith(where) else f"{where}: {message}")
    if isinstance(error, MissingMandatoryValue):
        return needs_a_value(error.full_key)
    if refused and not isinstance(error, ValueError):  # Lightning's refusal at fit/test, e.g. limit_val_batches
        key = re.search(r"`(limit_\w+_batches)`", message)  # it names the argument, not the config key
        return UserError(f"trainer.{key[1]}: {message}" if key else message)
    return error if isinstance(error, ValueError) else None


@contextmanager
def ctrl_c_in_one_line() -> Iterator[None]:
    """A script's whole life: Ctrl-C before a task's own handler is in place (imports, composing the config)
    ends it as a task's would, one line and 130, not a KeyboardInterrupt traceback."""
    try:
        yield
    except KeyboardInterrupt:
        print("stopped: interrupted by SIGINT", file=sys.stderr, flush=True)
        sys.exit(128 + signal.SIGINT)


class JobFailed(CompactHydraException):
    """A multirun job's error, shown by Hydra as its message alone."""


def _exit(error: Exception, code: int) -> NoReturn:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    if in_multirun():
        # sys.exit would end the whole sweep: Hydra records a raised error as this job failing (Optuna: a failed
        # trial) and goes on. The line lands in the job's log; compact: Hydra re-raises it as one line at the end.
        logging.getLogger(__name__).error("error: %s", error)
        raise JobFailed(f"error: {error}") from error
    print(f"error: {error}", file=sys.stderr, flush=True)
    if code == EXIT_DIVERGED:  # the run dir stays: its log says why it ended (compare reads it); stderr has it
        record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, f"error: {error}", None, None)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)
    sys.exit(code)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    raise Interrupted(signum, f"interrupted by {name}; the last checkpoint, if any, is resumable with ckpt_path=last")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
