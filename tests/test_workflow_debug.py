"""The debug configs (conf/debug/): each one runs, and does what it is for."""

import json
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import pytest
import torch
from omegaconf import DictConfig, open_dict

from conftest import TINY, compose_config, run_script
from mlplab.tasks.train import train

QUIET = ["trainer.enable_progress_bar=false", "logger=none"]


class Probe(L.Callback):
    """Records what the Trainer really did, for the assertions below."""

    seen: ClassVar[dict[str, Any]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        Probe.seen["anomaly"] = torch.is_anomaly_enabled()
        Probe.seen["train_batches"] = trainer.num_training_batches
        Probe.seen["val_batches"] = list(trainer.num_val_batches)

    def on_test_start(self, trainer: L.Trainer, *args: Any) -> None:
        Probe.seen["test_batches"] = list(trainer.num_test_batches)


def probed(cfg: DictConfig) -> DictConfig:
    Probe.seen.clear()
    with open_dict(cfg):
        cfg.callbacks.probe = {"_target_": f"{__name__}.Probe"}
    return cfg


@pytest.mark.slow
def test_fast_runs_end_to_end_through_the_script(tmp_path: Path) -> None:
    # fast_dev_run saves no "best" checkpoint: the test after fit must still run (on the current weights).
    run = tmp_path / "run"
    run_script("train.py", "debug=fast", QUIET[0], f"hydra.run.dir={run}")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 1
    assert metrics["test/loss"] > 0 and metrics["val/loss"] > 0
    # Lightning suppresses checkpointing under fast_dev_run: no last.ckpt that a resume would take for a run.
    assert not list(run.rglob("*.ckpt"))


def test_overfit_drives_the_training_loss_near_zero(tmp_path: Path) -> None:
    cfg = compose_config("train", ["debug=overfit", "data.num_samples=128", *QUIET], tmp_path)
    metrics = train(probed(cfg))
    assert Probe.seen["train_batches"] == 1
    assert metrics["global_step"] == cfg.trainer.max_epochs  # the same single batch, every epoch
    # The data's noise floor is 0.01: only a model that memorized its batch gets far below it.
    assert metrics["train/loss"] < 1e-3


def test_profile_saves_the_report_in_the_run_dir(tmp_path: Path) -> None:
    train(compose_config("train", ["debug=profile", *TINY, "logger=none"], tmp_path))
    report = (tmp_path / "fit-profile.txt").read_text()
    assert "Profiler Report" in report and "run_training_epoch" in report


def test_limit_runs_a_few_batches_of_each_split(tmp_path: Path) -> None:
    # 256 samples: 205 train, 26 val, 25 test; batches of 16: 13, 2 and 2 of them.
    cfg = compose_config("train", ["debug=limit", "data.num_samples=256", "data.batch_size=16", *QUIET], tmp_path)
    metrics = train(probed(cfg))
    assert Probe.seen["train_batches"] == 10
    assert Probe.seen["val_batches"] == [2] and Probe.seen["test_batches"] == [2]
    assert metrics["global_step"] == 10 * cfg.trainer.max_epochs


def test_limit_runs_on_a_table_whose_val_split_is_one_batch(tmp_path: Path) -> None:
    """Iris: 30 val and test rows, one batch each; a fraction of one batch is no batch at all."""
    cfg = compose_config("train", ["experiment=iris", "debug=limit", *QUIET], tmp_path)
    metrics = train(probed(cfg))
    assert Probe.seen["val_batches"] == [1] and metrics["test/acc"] >= 0


def test_anomaly_turns_on_autograd_anomaly_detection(tmp_path: Path) -> None:
    assert not torch.is_anomaly_enabled()
    train(probed(compose_config("train", ["debug=anomaly", *TINY, "logger=none"], tmp_path)))
    assert Probe.seen["anomaly"] is True
    assert not torch.is_anomaly_enabled()  # only for the run
