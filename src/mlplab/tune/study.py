"""The study: its storage, sampler and pruner, and the budget of trials that all workers share."""

import fcntl
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mlplab.errors import UserError
from mlplab.tasks.compare import higher_is_better


def direction_of(metric: str, given: str | None) -> Literal["minimize", "maximize"]:
    if given is not None:
        if given == "minimize":
            return "minimize"
        if given == "maximize":
            return "maximize"
        raise UserError(f"tune.direction={given}: allowed: minimize, maximize, null (follows tune.metric)")
    higher = higher_is_better(metric)
    if higher is not None:
        return "maximize" if higher else "minimize"
    raise UserError(f"tune.metric={metric}: which way is better is not known; set tune.direction=minimize or maximize")


@contextmanager
def heartbeats() -> Iterator[None]:
    """Optuna's heartbeats have been "experimental" since 2.8 (2021), and are its only way to find dead workers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def storage_address(tune: DictConfig, study_dir: Path) -> str:
    """``tune.storage`` as a URL or a journal file's path (what ``optuna-dashboard`` takes)."""
    if tune.storage is None:
        return f"sqlite:///{study_dir / 'study.db'}"
    return str(study_dir / "study.journal") if tune.storage == "journal" else str(tune.storage)


def open_storage(tune: DictConfig, study_dir: Path) -> BaseStorage:
    """``tune.storage``: null (SQLite in the study dir), ``journal`` (a journal file there) or a URL."""
    url = storage_address(tune, study_dir)
    if "://" not in url:  # a journal file
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        with heartbeats():
            # A worker that dies mid-trial stops its heartbeat: after grace_period its trial fails, and is retried.
            retry = RetryHeartbeatStaleTrialCallback(max_retry=tune.retries) if tune.retries else None
            return RDBStorage(
                url,
                # Workers share one SQLite file: wait for its lock rather than fail at once.
                engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
                heartbeat_interval=tune.heartbeat_interval,
                grace_period=tune.grace_period,
                heartbeat_stale_trial_callback=retry,
            )
    except (ImportError, ValueError) as e:  # SQLAlchemy: a driver that is not installed, a malformed URL
        raise UserError(f"tune.storage={url}: {' '.join(str(e).split())}") from e
    except Exception as e:  # SQLAlchemy's own errors (NoSuchModuleError: an unknown dialect), a refused connection
        if type(e).__module__.startswith("sqlalchemy"):
            detail = " ".join(str(e).split()[:20])
            raise UserError(f"tune.storage={url}: {detail}; allowed: null, journal, or a database URL") from e
        raise


def open_study(
    tune: DictConfig, storage: BaseStorage, study_dir: Path, direction: Literal["minimize", "maximize"], worker: int
) -> optuna.Study:
    """Creates the study, or loads it to continue; the sampler's seed moves on by the trials stored."""
    stored = _stored_trials(storage, tune.study_name)
    sampler_cfg = tune.sampler
    shift: dict[str, Any] = {}
    if sampler_cfg.get("seed") is not None:
        # The same seed again would replay the study's first (random) trials; each worker draws its own.
        shift["seed"] = int(sampler_cfg.seed) + stored + 1000 * worker
    study = optuna.create_study(
        study_name=tune.study_name,
        storage=storage,
        sampler=instantiate(sampler_cfg, **shift),
        pruner=instantiate(tune.pruner),
        direction=direction,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise UserError(
            f"tune.direction={direction}: study {tune.study_name!r} in {study_dir} was made to "
            f"{study.direction.name.lower()}; give another tune.study_name for a new study"
        )
    return study


def _stored_trials(storage: BaseStorage, name: str) -> int:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


@contextmanager
def budget_lock(study_dir: Path) -> Iterator[None]:
    """One worker at a time counts the trials and adds the next: the budget is never overrun. A lock file in
    the study dir, so workers on other machines need the dir on a shared file system (as their runs do)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    with open(study_dir / ".budget.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def take_next_trial(study: optuna.Study, n_trials: int) -> bool:
    """Under :func:`budget_lock`: whether this worker runs one more trial. A trial waiting (a retry, or one a
    worker queued and could not run) is run first; else one is queued if the study has fewer than
    ``n_trials``. A failed trial that a retry replaces is counted once."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    if sum(t.number not in retried for t in trials) >= n_trials:
        return False
    study.enqueue_trial({})  # the sampler still draws every value: nothing is fixed
    return True


class _NoTraceback(logging.Filter):
    """Optuna logs a failed trial with its traceback; the trial's one-line reason says what went wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "failed with parameters" in record.getMessage():
            record.exc_info = record.exc_text = None
        return True


def quiet_failed_trials() -> None:
    optuna.logging.get_logger("optuna")  # makes Optuna's console handler, which the filter goes on
    for handler in logging.getLogger("optuna").handlers:
        handler.addFilter(_NoTraceback())
