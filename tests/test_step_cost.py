"""What a training step does besides its math: no metric is read back to the host between log steps."""

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import pytest
import torch

from conftest import TINY, compose_config
from mlplab.tasks.train import train

# Each of these copies a tensor's value to the host: on a GPU, a sync that stalls the queue of work.
HOST_READS = ("item", "tolist", "__float__", "__int__", "__bool__")


class HostReads(L.Callback):
    """Counts host reads per training step (from one batch's start to the next's), and keeps, per step,
    the bar's train/loss beside the logged one (compared after the run, so comparing reads nothing)."""

    per_step: ClassVar[Counter[int]] = Counter()
    step: ClassVar[int] = 0
    last_batches: ClassVar[set[int]] = set()
    shown: ClassVar[dict[int, tuple[Any, Any]]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        HostReads.step = trainer.global_step + 1

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, out: Any, batch: Any, i: int) -> None:
        if i + 1 == trainer.num_training_batches:
            HostReads.last_batches.add(HostReads.step)
        bar = trainer.progress_bar_callback
        assert bar is not None  # runs after the bar's hook, which has read the metrics if they were new
        logged = trainer.callback_metrics.get("train/loss")
        logged = logged.clone() if isinstance(logged, torch.Tensor) else logged
        HostReads.shown[HostReads.step] = (bar.get_metrics(trainer, module).get("train/loss"), logged)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        HostReads.step = 0


def _counted(read: Any) -> Any:
    def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        HostReads.per_step[HostReads.step] += 1
        return read(self, *args, **kwargs)

    return counted


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> type[HostReads]:
    monkeypatch.setattr(HostReads, "per_step", Counter())
    monkeypatch.setattr(HostReads, "last_batches", set())
    monkeypatch.setattr(HostReads, "shown", {})
    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, _counted(getattr(torch.Tensor, name)))
    return HostReads


def test_only_log_steps_read_metrics_back_and_the_bar_shows_them(host_reads: type[HostReads], tmp_path: Path) -> None:
    # 20 steps an epoch, logged every 5; default callbacks with the progress bar on, and TensorBoard.
    run = ["data.num_samples=400", "trainer.log_every_n_steps=5", "trainer.enable_progress_bar=true", "test=false"]
    train(compose_config("train", [*TINY, *run, "+callbacks.reads._target_=test_step_cost.HostReads"], tmp_path))
    assert host_reads.last_batches == {20, 40}
    log_steps = set(range(5, 41, 5))
    # Logging reads at its step; the bar reads the batch after (the module logs after the bar's hook);
    # an epoch's last batch also runs its validation and checkpoint.
    allowed = log_steps | {s + 1 for s in log_steps} | host_reads.last_batches
    reading = {step for step, n in host_reads.per_step.items() if n and step > 0}
    assert reading <= allowed, f"host reads at steps {sorted(reading - allowed)}"
    assert log_steps <= reading  # logging itself reads: the count does see reads
    # At every step the bar shows the train/loss logged last (none before the first log step).
    for step, (bar, logged) in sorted(host_reads.shown.items()):
        expected = None if logged is None else pytest.approx(float(logged))
        assert bar == expected, f"step {step}: the bar shows {bar}, the last logged train/loss is {logged}"
    assert host_reads.shown[6][0] is not None and host_reads.shown[4][0] is None
