"""The tuning task: a study over scripts/train.py's config, run by one or more workers until its budget is spent."""

import json
from pathlib import Path

import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from mlplab.errors import UserError
from mlplab.tasks.compare import compare_runs
from mlplab.tune import workers
from mlplab.tune.best_config import summary, write_best_config
from mlplab.tune.liveness import Liveness
from mlplab.tune.space import search_space
from mlplab.tune.study import (
    budget_lock,
    direction_of,
    open_storage,
    open_study,
    quiet_failed_trials,
    storage_address,
    take_next_trial,
)
from mlplab.tune.trial import Objective

NOT_FOR_TRIALS = ("tune", "hparams_search", "hydra")  # the command line's keys that are not the trials'


def train_overrides() -> list[str]:
    """The command line's overrides that every trial's train config gets."""
    keys = ((o, o.split("=", 1)[0].lstrip("+~")) for o in HydraConfig.get().overrides.task)
    return [o for o, key in keys if key.split(".")[0].split("/")[0] not in NOT_FOR_TRIALS]


def tune(cfg: DictConfig) -> float | None:
    """Runs trials until the study holds ``tune.n_trials``; the first worker then writes the results."""
    t = cfg.tune
    study_dir = Path(t.dir).absolute()
    first = t.worker_index is None  # the worker the user started: checks, starts the others, reports
    base = train_overrides()
    searched = OmegaConf.to_container(cfg.hparams_search, resolve=True)
    assert isinstance(searched, dict)
    space = search_space(
        {str(k): v for k, v in searched.items()}, fixed={o.split("=", 1)[0].lstrip("+~") for o in base}
    )
    direction = direction_of(t.metric, t.direction)
    _check_devices(cfg.trainer)
    quiet_failed_trials()
    worker = 0 if first else int(t.worker_index)
    storage = open_storage(t, study_dir)
    study = open_study(t, storage, study_dir, direction, worker)
    liveness = Liveness(storage, t)
    if first and t.launcher != "local":
        workers.run_on_submitit(t, study_dir)
    else:
        children = workers.start_local(t.workers, study_dir) if first and t.workers > 1 else []
        torch.set_num_threads(max(1, torch.get_num_threads() // max(1, t.workers)))
        try:
            _work(study, Objective(base, space, t.metric, study_dir, worker, liveness), t.n_trials, study_dir, liveness)
        except BaseException:
            workers.stop_local(children)
            raise
        workers.wait_local(children, study_dir)
    return _report(study, t, study_dir) if first else None


def _check_devices(trainer: DictConfig) -> None:
    """A trial runs in its worker's process: Lightning's DDP would start this script again in each rank."""
    if "ddp" in str(trainer.get("strategy")) or trainer.get("devices") not in (1, "1", "auto", None):
        raise UserError(
            f"trainer.devices={trainer.get('devices')}: each trial runs on one device in its worker's process; "
            "run trials side by side with tune.workers=N instead"
        )


def _work(study: optuna.Study, objective: Objective, n_trials: int, study_dir: Path, liveness: Liveness) -> None:
    while True:
        with budget_lock(study_dir):
            liveness.fail_stale(study)
            if not take_next_trial(study, n_trials):
                return
        try:
            study.optimize(objective, n_trials=1, catch=(Exception,))
        except KeyboardInterrupt:
            if objective.interrupted is not None:  # SIGTERM or Ctrl-C in training: its exit code
                raise objective.interrupted from None
            raise


def _report(study: optuna.Study, t: DictConfig, study_dir: Path) -> float:
    trials_dir = study_dir / "trials"
    if any(trials_dir.glob("*/.hydra")):  # trials refused before their run dir (a key no config has) leave none
        print()
        # Sorted by the study's metric where a trial logged it; else (no trial got that far) in trial order.
        logged = any(t.metric in json.loads(p.read_text()) for p in trials_dir.glob("*/metrics.json"))
        compare_runs(trials_dir, str(study_dir / "comparison"), sort_by=t.metric if logged else None, echo=True)
    best = write_best_config(study, study_dir)
    print(summary(study, t.metric))
    if best is None:
        raise UserError(f"no trial of study {study.study_name!r} completed: see {study_dir}/comparison.md")
    print(f"Best config: {best}\n  python scripts/train.py --config-dir {study_dir} experiment=best")
    print(f"Dashboard:   .venv/bin/optuna-dashboard {storage_address(t, study_dir)}")
    return float(study.best_value)
