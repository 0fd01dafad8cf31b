"""The tutorial's training, cut into Lightning's hooks: net, loss, optimizer, one step, and its metrics."""

from collections.abc import Callable
from typing import Annotated, Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection, R2Score

from mlplab.callbacks.noise_floor import NoiseFloor
from mlplab.callbacks.train_loss import TrainLoss
from mlplab.callbacks.validate_last_epoch import ValidateLastEpoch
from mlplab.model.losses import LOSSES, build_loss
from mlplab.model.net import Net
from mlplab.rules import Positive, checked, one_of

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
Batch = tuple[Tensor, Tensor]


class Regressor(L.LightningModule):
    """Fits ``net`` to ``(x, y)`` batches; optimizer and scheduler arrive as partials from Hydra.

    The loop itself (``zero_grad -> forward -> loss -> backward -> step``) is Lightning's; ``train/loss``
    is averaged and logged by :class:`mlplab.callbacks.train_loss.TrainLoss`.
    """

    @checked("model")
    def __init__(
        self,
        in_dim: Positive = 4,
        hidden_dim: Positive = 10,
        out_dim: Positive = 4,
        loss: Annotated[str, one_of(*LOSSES)] = "mse",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        # Partials are code, not data: keeping them out of the checkpoint lets it load weights-only.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = Net(in_dim, hidden_dim, out_dim)
        self.loss_fn = build_loss(loss)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        metrics = MetricCollection(
            {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score(multioutput="uniform_average")}
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # Sample-weighted means over the whole split, synced over ranks by torchmetrics. "disable": no host
        # sync per batch to look for NaNs.
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.test_loss = MeanMetric(nan_strategy="disable")

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        x, y = batch
        return self.loss_fn(self.net(x), y)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, self.val_loss, self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, self.test_loss, self.test_metrics)

    def _score(self, batch: Batch, loss: MeanMetric, metrics: MetricCollection) -> None:
        x, y = batch
        pred = self.net(x)
        # One entry per sample makes a sample-weighted mean (MeanMetric's `weight` is ignored under
        # nan_strategy="disable" in torchmetrics 1.9).
        loss.update(self.loss_fn(pred, y).expand(len(x)))
        metrics.update(pred, y)

    def on_validation_epoch_end(self) -> None:
        self._log_split("val", self.val_loss, self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_split("test", self.test_loss, self.test_metrics)

    def _log_split(self, split: str, loss: MeanMetric, metrics: MetricCollection) -> None:
        # compute() syncs over ranks, so these are whole-split values (sync_dist only tells Lightning so);
        # reset() keeps the sanity check and earlier epochs out of the next result.
        self.log(f"{split}/loss", loss.compute(), prog_bar=split == "val", sync_dist=True)
        self.log_dict(metrics.compute(), sync_dist=True)
        loss.reset()
        metrics.reset()

    def predict_step(self, batch: Batch | Tensor, batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.net(x)

    def configure_callbacks(self) -> list[L.Callback]:
        # What this module's runs log and how they end, with any Trainer: train/loss, a last validation.
        return [TrainLoss(), ValidateLastEpoch(), NoiseFloor()]

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("model.optimizer is not set; choose one with optimizer=sgd or optimizer=adam")
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
