"""What a training step does besides its math: no metric is read back to the host between log steps."""

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import pytest
import torch

from conftest import TINY, compose_config
from mlplab.train import train

# Each of these copies a tensor's value to the host: on a GPU, a sync that stalls the queue of work.
HOST_READS = ("item", "tolist", "__float__", "__int__", "__bool__")


class HostReads(L.Callback):
    """Counts host reads per training step (from one batch's start to the next's) and keeps the bar's last text."""

    per_step: ClassVar[Counter[int]] = Counter()
    step: ClassVar[int] = 0
    last_batches: ClassVar[set[int]] = set()
    bar_at_end: ClassVar[dict[str, Any]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        HostReads.step = trainer.global_step + 1

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, out: Any, batch: Any, i: int) -> None:
        if i + 1 == trainer.num_training_batches:
            HostReads.last_batches.add(HostReads.step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        HostReads.step = 0
        assert trainer.progress_bar_callback is not None
        HostReads.bar_at_end = dict(trainer.progress_bar_callback.get_metrics(trainer, pl_module))


def _counted(read: Any) -> Any:
    def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        HostReads.per_step[HostReads.step] += 1
        return read(self, *args, **kwargs)

    return counted


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> type[HostReads]:
    monkeypatch.setattr(HostReads, "per_step", Counter())
    monkeypatch.setattr(HostReads, "last_batches", set())
    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, _counted(getattr(torch.Tensor, name)))
    return HostReads


def test_steps_between_log_steps_read_nothing_back_to_the_host(host_reads: type[HostReads], tmp_path: Path) -> None:
    # 20 steps an epoch, logged every 5; default callbacks with the progress bar on, and TensorBoard.
    run = ["data.num_samples=400", "trainer.log_every_n_steps=5", "trainer.enable_progress_bar=true", "test=false"]
    train(compose_config("train", [*TINY, *run, "+callbacks.reads._target_=test_step_cost.HostReads"], tmp_path))
    reading = {step for step, n in host_reads.per_step.items() if n and step > 0}
    log_steps = set(range(5, 41, 5))
    assert host_reads.last_batches == {20, 40}
    assert reading <= log_steps | host_reads.last_batches, f"host reads at steps {sorted(reading - log_steps)}"
    assert log_steps <= reading  # logging itself reads: the count does see reads
    # The bar still shows train/loss, and val/loss, as last logged.
    assert set(host_reads.bar_at_end) >= {"train/loss", "val/loss"}
