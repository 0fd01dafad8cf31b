"""Optuna studies with scripts/tune.py, end to end: pruning, a total budget that a rerun continues, parallel
workers on one storage, failed and killed trials, and the best trial's config trained again."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from conftest import ROOT, assert_names, hparams_session, run_script
from mlplab.config.schema import validate_config
from mlplab.errors import UserError
from mlplab.tasks.compare import table_of_runs
from mlplab.tune.study import open_storage

# Tiny trials (64 samples, 4 steps an epoch); a 1-second heartbeat so that a dead worker is found quickly.
TINY = [
    "data.num_samples=64",
    "data.batch_size=16",
    "trainer.enable_progress_bar=false",
    "model_summary_depth=0",
    "tune.heartbeat_interval=1",
    "tune.grace_period=2",
]
# The learning rate alone, SGD: with the median pruner past 2 trials, slow learners stop after epoch 1.
PRUNED_STUDY = [
    "hparams_search=lr",
    "optimizer=sgd",
    "trainer.max_epochs=6",
    "tune.pruner.n_startup_trials=2",
    "tune.pruner.n_warmup_steps=1",
    *TINY,
]


def load_trials(study_dir: Path, name: str) -> list[Any]:
    """The study's trials, from its SQLite file or (tune.storage=journal) its journal file."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = study_dir / "study.journal"
    storage = (
        JournalStorage(JournalFileBackend(str(journal))) if journal.exists() else f"sqlite:///{study_dir / 'study.db'}"
    )
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def states(trials: list[Any]) -> list[str]:
    return [t.state.name for t in trials]


@pytest.fixture(scope="module")
def pruned_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study of 6 trials, run to its budget."""
    study_dir = tmp_path_factory.mktemp("tune") / "lr"
    run_script("tune.py", *PRUNED_STUDY, "tune.n_trials=6", f"tune.dir={study_dir}")
    return study_dir


@pytest.mark.slow
def test_a_study_prunes_slow_trials_and_shows_them_as_pruned(pruned_study: Path) -> None:
    trials = load_trials(pruned_study, "lr")
    assert len(trials) == 6
    assert "PRUNED" in states(trials) and "COMPLETE" in states(trials) and "FAIL" not in states(trials)
    table = (pruned_study / "comparison.md").read_text()
    for trial in trials:
        record = json.loads((pruned_study / "trials" / str(trial.number) / "trial.json").read_text())
        assert record["state"] == trial.state.name.lower()
        row = next(line for line in table.splitlines() if line.startswith(f"| {trial.number} |"))
        assert ("pruned" if trial.state.name == "PRUNED" else "ok") in row
        # Every trial, pruned ones too, is in TensorBoard's HParams tab with the metrics it reached.
        params, metrics = hparams_session(pruned_study / "trials" / str(trial.number))
        assert "optimizer.lr" in params and "val/loss" in metrics, trial.number
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    for trial in completed:  # the value is the run's own val/loss, and the trial links to its run dir
        metrics = json.loads((Path(trial.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert trial.value == pytest.approx(metrics["val/loss"])


@pytest.mark.slow
def test_compare_on_a_study_dir_tables_its_trials(pruned_study: Path, tmp_path: Path) -> None:
    """The study's dir holds Hydra's .hydra/ too (tune.py runs in it): it is a folder of runs, not one run."""
    table = table_of_runs(pruned_study)
    assert sorted(row[0] for row in table.rows) == [f"trials/{i}" for i in range(6)]
    with pytest.raises(UserError) as unknown:
        table_of_runs(pruned_study, metrics=["val/foo"])
    assert_names(str(unknown.value), "val/foo", "allowed", "val/loss")


def test_a_storage_url_of_an_unknown_database_is_refused_in_one_line(tmp_path: Path) -> None:
    tune = OmegaConf.create({"storage": "foo://bar", "retries": 0, "heartbeat_interval": 30, "grace_period": 90})
    with pytest.raises(UserError) as refused:
        open_storage(tune, tmp_path)
    assert_names(str(refused.value), "tune.storage=foo://bar", "allowed")


@pytest.mark.slow
def test_the_same_command_continues_the_study_up_to_its_total_budget(pruned_study: Path) -> None:
    # n_trials is the study's total: 6 are stored, so 2 more run, numbered on from 6.
    run_script("tune.py", *PRUNED_STUDY, "tune.n_trials=8", f"tune.dir={pruned_study}")
    trials = load_trials(pruned_study, "lr")
    assert [t.number for t in trials] == list(range(8))
    assert all(t.state.is_finished() for t in trials)
    # The continued sampler did not replay the first trials' values.
    lrs = [t.params["optimizer.lr"] for t in trials]
    assert len(set(lrs)) == 8


@pytest.mark.slow
def test_the_best_config_trains_again_to_the_same_val_metric(pruned_study: Path, tmp_path: Path) -> None:
    import optuna

    study = optuna.load_study(study_name="lr", storage=f"sqlite:///{pruned_study / 'study.db'}")
    assert (pruned_study / "experiment" / "best.yaml").is_file()
    run_dir = tmp_path / "again"
    run_script("train.py", "--config-dir", str(pruned_study), "experiment=best", f"hydra.run.dir={run_dir}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val/loss"] == pytest.approx(study.best_value, rel=1e-6)


@pytest.mark.slow
def test_a_failing_trial_is_recorded_with_its_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    # A space of one good and one refused learning rate (optimizer.lr must be positive).
    space = tmp_path / "conf" / "hparams_search"
    space.mkdir(parents=True)
    (space / "good_and_bad.yaml").write_text("optimizer.lr:\n  choices: [0.05, -1.0]\n")
    study_dir = tmp_path / "study"
    args = ["hparams_search=good_and_bad", "tune/sampler=random", "trainer.max_epochs=2", *TINY]
    run_script("tune.py", "--config-dir", str(tmp_path / "conf"), *args, "tune.n_trials=4", f"tune.dir={study_dir}")
    trials = load_trials(study_dir, "good_and_bad")
    assert len(trials) == 4
    assert {t.params["optimizer.lr"] for t in trials} == {0.05, -1.0}, "the seed no longer draws both"
    for trial in trials:
        if trial.params["optimizer.lr"] < 0:
            assert trial.state.name == "FAIL"
            assert "optimizer.lr" in trial.user_attrs["fail_reason"]
            assert "\n" not in trial.user_attrs["fail_reason"]
        else:
            assert trial.state.name == "COMPLETE"


@pytest.mark.slow
def test_two_workers_share_one_study_without_running_a_trial_twice(tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    args = ["hparams_search=lr", "trainer.max_epochs=6", *TINY, "tune.workers=2", "tune.n_trials=5"]
    run_script("tune.py", *args, f"tune.dir={study_dir}")
    trials = load_trials(study_dir, "lr")
    assert sorted(t.number for t in trials) == list(range(5))  # the total is kept, each number once
    assert all(t.state.is_finished() for t in trials)
    records = [json.loads(p.read_text()) for p in (study_dir / "trials").glob("*/trial.json")]
    assert sorted(r["number"] for r in records) == list(range(5))
    assert (study_dir / "workers" / "1.log").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_a_killed_workers_trial_is_failed_and_retried_not_left_running(tmp_path: Path, storage: str) -> None:
    """SQLite: Optuna's heartbeats. A journal file has none in Optuna: mlplab.tune.liveness stamps the trial."""
    study_dir = tmp_path / "study"
    chosen = ["tune.storage=journal"] if storage == "journal" else []
    args = ["hparams_search=lr", *TINY, *chosen, f"tune.dir={study_dir}", "tune.n_trials=1"]
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    long_trial = [sys.executable, str(ROOT / "scripts" / "tune.py"), *args, "trainer.max_epochs=100000"]
    worker = subprocess.Popen(long_trial, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (study_dir / "trials" / "0" / "tensorboard").exists():  # trial 0 is training
            assert worker.poll() is None and time.monotonic() < deadline, "the trial did not start"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGKILL)  # no handler runs: the trial stays RUNNING in the storage
        worker.wait()
    assert states(load_trials(study_dir, "lr")) == ["RUNNING"]
    time.sleep(3)  # past tune.grace_period without a heartbeat
    # The same command again: the stale trial fails, its retry (same values) runs in its place.
    run_script("tune.py", *args, "trainer.max_epochs=2")
    trials = load_trials(study_dir, "lr")
    assert states(trials) == ["FAIL", "COMPLETE"]
    assert trials[1].system_attrs["failed_trial"] == 0
    assert trials[1].params == trials[0].params


def test_a_search_space_entry_that_is_no_distribution_is_refused_naming_it() -> None:
    from mlplab.tune.space import search_space

    with pytest.raises(UserError) as refused:
        search_space({"optimizer.lr": {"low": 0.1, "high": 1.0}, "width": 32}, fixed=set())
    assert_names(str(refused.value), "hparams_search.width=32", "choices", "low")
    with pytest.raises(UserError) as empty:
        search_space({"optimizer.lr": {"low": 0.1, "high": 1.0}}, fixed={"optimizer.lr"})
    assert_names(str(empty.value), "hparams_search", "fixed")


def test_train_points_a_search_to_tune(make_cfg: Callable[..., DictConfig]) -> None:
    with pytest.raises(UserError) as refused:
        validate_config(make_cfg("hparams_search=mlp"))
    assert_names(str(refused.value), "hparams_search", "scripts/tune.py")


@pytest.mark.slow
def test_a_classification_study_maximizes_val_acc(tmp_path: Path) -> None:
    import optuna

    study_dir = tmp_path / "iris"
    args = ["experiment=iris", "hparams_search=lr", "trainer.max_epochs=3", *TINY[2:], "tune.n_trials=3"]
    run_script("tune.py", *args, f"tune.dir={study_dir}")
    study = optuna.load_study(study_name="lr", storage=f"sqlite:///{study_dir / 'study.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE  # the task's metric, val/acc
    values = [float(t.value) for t in study.trials if t.state.name == "COMPLETE" and t.value is not None]
    assert study.best_value == max(values)
    with (study_dir / "comparison.csv").open() as f:
        table = list(csv.DictReader(f))
    accs = [float(row["val/acc"]) for row in table]
    assert accs == sorted(accs, reverse=True) and len(accs) == 3  # best first: the highest accuracy
    assert all(row["test/acc"] for row in table) and "test/r2" not in table[0]  # the task's own columns
