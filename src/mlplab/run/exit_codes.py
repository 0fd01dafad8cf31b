"""What the entry scripts share: one line and an exit code for every way a run can end early.

Exit codes: 2 bad input (config, data, checkpoint), 3 training diverged, 130 Ctrl-C, 143 SIGTERM.
Torch-free: the scripts import it for ``--help`` and ``--cfg job``.
"""

import logging
import os
import re
import shutil
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
from mlplab.run.run_dir import HYDRA_SUBDIR

T = TypeVar("T")


def run_reporting_errors(task: Callable[[], T]) -> T:
    """Runs ``task``; ends the process with one line on stderr and the exit code of what went wrong.

    ``HYDRA_FULL_ERROR=1`` shows the traceback instead, as it does for Hydra's own errors. A run dir
    that a failed start left with nothing but Hydra's files is removed, so it cannot pass for a run.
    """
    run_dir = _run_dir()
    # The tools run "in" the working directory (conf/hydra/tool.yaml: hydra.run.dir=.): never one to remove.
    fresh = run_dir is not None and run_dir.resolve() != Path.cwd().resolve() and _holds_no_run(run_dir)
    try:
        with _signals_interrupt():
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
        # A single run: as the directory was before Hydra wrote into it. A multirun's job: its own new
        # directory goes if it holds nothing of a run.
        restored = run_dir is not None and run_dir_snapshot.restore(run_dir)
        if not restored and fresh and run_dir is not None and _holds_no_run(run_dir, allow_events=True):
            shutil.rmtree(run_dir, ignore_errors=True)
        if error is not e:
            error.__cause__ = e  # HYDRA_FULL_ERROR=1 shows where it came from
        _exit(error, EXIT_USER_ERROR)


def one_line_reason(error: Exception) -> str:
    """``error`` as the one line a run would end with (for anything else: its type and message)."""
    bad = error if isinstance(error, TrainingDiverged) else _bad_input(error)
    return " ".join((str(bad) if bad is not None else f"{type(error).__name__}: {error}").split())


def _bad_input(error: Exception) -> Exception | None:
    """``error`` as the one line to report when the user's input is at fault; None otherwise."""
    if isinstance(error, (UserError, ValueError)):
        return error
    if isinstance(error, MissingMandatoryValue):
        return needs_a_value(error.full_key)
    if isinstance(error, InstantiationException):
        cause = error.__cause__
        # The class itself said its arguments are wrong, not a missing package or a failing device.
        refused = isinstance(cause, (UserError, ValueError, TypeError)) or _misconfiguration(cause)
        return _bad_setting(error) if refused else None
    if _misconfiguration(error):  # fit/test refusing a value, e.g. a limit_val_batches that leaves no batch
        message = " ".join(str(error).split())
        key = re.search(r"`(limit_\w+_batches)`", message)  # Lightning names the argument, not the config key
        return UserError(f"trainer.{key[1]}: {message}" if key else message)
    return None


def _misconfiguration(error: BaseException | None) -> bool:
    """Lightning's MisconfigurationException, matched by name: this module imports no Lightning."""
    return error is not None and any(c.__name__ == "MisconfigurationException" for c in type(error).__mro__)


def _bad_setting(error: InstantiationException) -> UserError:
    """A class refused its config values (``trainer.accelerator=foo``): its own message, under the config
    key, instead of Hydra's four lines."""
    lines = str(error).splitlines()
    key = next((line.removeprefix("full_key: ") for line in lines if line.startswith("full_key: ")), "")
    cause = error.__cause__
    reason = str(cause) if cause is not None else (lines[1] if len(lines) > 1 else lines[0])
    reason = " ".join(reason.split())
    return UserError(reason if key and reason.startswith(key) else f"{key or lines[0]}: {reason}")


class JobFailed(CompactHydraException):
    """A multirun job's error, shown by Hydra as its message alone."""


def _exit(error: Exception, code: int) -> NoReturn:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    if in_multirun():
        # sys.exit would end the whole sweep: Hydra records a raised error as this job failing
        # (Optuna: a failed trial) and goes on with the next one. The line lands in the job's log.
        logging.getLogger(__name__).error("error: %s", error)
        # Compact: when the sweep ends, Hydra re-raises it as one line, not as a traceback.
        raise JobFailed(f"error: {error}") from error
    print(f"error: {error}", file=sys.stderr, flush=True)
    if code == EXIT_DIVERGED:
        _to_job_log(f"error: {error}")  # the run dir stays: its log says why it ended (compare reads it)
    sys.exit(code)


def _to_job_log(line: str) -> None:
    """``line`` into the run's log file (Hydra's file handler) only: stderr already has it."""
    record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    raise Interrupted(signum, f"interrupted by {name}; the last checkpoint, if any, is resumable with ckpt_path=last")


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Ctrl-C or SIGTERM outside training stops at once with 130/143 (training saves first, see callbacks)."""
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signums}
    for s in signums:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _run_dir() -> Path | None:
    if not HydraConfig.initialized():
        return None
    output_dir = HydraConfig.get().runtime.output_dir
    return Path(output_dir) if output_dir else None


def _holds_no_run(run_dir: Path, allow_events: bool = False) -> bool:
    """Only Hydra's files (and the job log); with ``allow_events``, also a logger dir without checkpoints."""
    if not run_dir.is_dir():
        return False
    for entry in run_dir.iterdir():
        if entry.name == HYDRA_SUBDIR or entry.suffix == ".log":
            continue
        if allow_events and entry.is_dir() and not any(entry.rglob("*.ckpt")) and entry.name != "checkpoints":
            continue
        return False
    return True


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
