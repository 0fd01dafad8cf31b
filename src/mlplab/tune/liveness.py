"""Trials of dead workers: failed and retried, not RUNNING forever. RDB storages have Optuna's heartbeats; a
journal file has none (Optuna 5.1), so there the trial's worker stamps it every ``tune.heartbeat_interval``
and a RUNNING trial without a stamp for ``tune.grace_period`` is failed and retried as Optuna would."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
from omegaconf import DictConfig
from optuna.storages import BaseStorage, JournalStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from mlplab.tune.study import heartbeats

STAMP = "mlplab:heartbeat"  # a trial's system attribute: when its worker last said it was alive


class Liveness:
    def __init__(self, storage: BaseStorage, tune: DictConfig) -> None:
        self.storage, self.enabled = storage, isinstance(storage, JournalStorage)
        self.interval, self.grace, self.retries = tune.heartbeat_interval, tune.grace_period, tune.retries

    @contextmanager
    def beating(self, trial: optuna.Trial) -> Iterator[None]:
        """While the trial runs, a thread stamps it every ``interval`` seconds."""
        if not self.enabled:
            yield
            return
        trial_id = self._trial_id(trial.study, trial.number)
        stop = threading.Event()

        def beat() -> None:
            while True:
                self.storage.set_trial_system_attr(trial_id, STAMP, time.time())
                if stop.wait(self.interval):
                    return

        thread = threading.Thread(target=beat, name="mlplab-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fail_stale(self, study: optuna.Study) -> None:
        """Under the budget lock: RUNNING trials silent for ``grace`` seconds fail, and are retried."""
        if not self.enabled:  # an RDB storage: Optuna's own heartbeats
            with heartbeats():
                optuna.storages.fail_stale_trials(study)
            return
        now = time.time()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            started = trial.datetime_start.timestamp() if trial.datetime_start else now
            if now - float(trial.system_attrs.get(STAMP, started)) <= self.grace:
                continue
            trial_id = self._trial_id(study, trial.number)
            if self.storage.set_trial_state_values(trial_id, TrialState.FAIL) and self.retries:
                with heartbeats():
                    retry = RetryHeartbeatStaleTrialCallback(max_retry=self.retries)
                retry(study, self.storage.get_trial(trial_id))

    def _trial_id(self, study: optuna.Study, number: int) -> int:
        study_id = self.storage.get_study_id_from_name(study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)
