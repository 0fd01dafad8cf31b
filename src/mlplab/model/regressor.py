"""The LightningModule: the tutorial's net, its loss and optimizer, and the metrics around them."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection, R2Score

from mlplab.model.losses import build_loss
from mlplab.model.net import Net

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
Batch = tuple[Tensor, Tensor]


@dataclass
class _BatchCounts:
    window: int = 0  # batches since train/loss was last logged
    epoch: int = 0  # batches in the current epoch
    logged_at: int = -1  # the global step train/loss was last logged at


class Regressor(L.LightningModule):
    """Fits ``net`` to ``(x, y)`` batches; optimizer and scheduler arrive as partials from Hydra."""

    _window_sum: Tensor
    _epoch_sum: Tensor

    def __init__(
        self,
        in_dim: int = 4,
        hidden_dim: int = 10,
        out_dim: int = 4,
        loss: str = "mse",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        # Partials are code, not data: keeping them out of the checkpoint lets it load weights-only.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net: Net = Net(in_dim, hidden_dim, out_dim)
        self.loss_fn = build_loss(loss)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        metrics = MetricCollection(
            {
                "mse": MeanSquaredError(),
                "mae": MeanAbsoluteError(),
                "r2": R2Score(multioutput="uniform_average"),
            }
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # Sample-weighted means, synced over ranks by torchmetrics: exact over the whole split.
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.test_loss = MeanMetric(nan_strategy="disable")
        # Each rank's own running sums: plain tensors, not buffers, which DDP would overwrite with rank 0's
        # before every forward. on_train_start puts them on the module's device.
        self._window_sum = torch.zeros(())
        self._epoch_sum = torch.zeros(())
        self._counts = _BatchCounts()

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets this string around every hook call, dozens of times per step; nn.Module's
        # __setattr__ (parameter/buffer/submodule bookkeeping) costs ~50 µs a step for it (``make bench``).
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(x), y)
        # Device-side running sums instead of self.log per step (~1 ms each): no host sync, ~no Python.
        # In-place adds and a plain counter object: nn.Module.__setattr__ costs microseconds per call.
        detached = loss.detach()
        self._window_sum.add_(detached)
        self._epoch_sum.add_(detached)
        self._counts.window += 1
        self._counts.epoch += 1
        return loss

    def on_train_start(self) -> None:
        self._counts.logged_at = self.global_step  # a resumed run's first step is not logged twice
        self._window_sum = self._window_sum.to(self.device)  # restored values, if resumed, come along
        self._epoch_sum = self._epoch_sum.to(self.device)

    def on_train_epoch_start(self) -> None:
        self._epoch_sum.zero_()
        self._counts.epoch = 0
        trainer = self.trainer
        last = trainer.max_epochs is not None and self.current_epoch == trainer.max_epochs - 1
        if last and trainer.check_val_every_n_epoch is not None:  # None: validation counts steps, not epochs
            # The last epoch is validated even off trainer.check_val_every_n_epoch (the tutorial's 100 with 50
            # epochs): the run ends with val/loss, and a best checkpoint to test, of its final weights.
            trainer.check_val_every_n_epoch = 1

    def _window_due(self) -> bool:
        """This step logs its train/loss window: Lightning's step-logging cadence, once per global step (with
        gradient accumulation, several batches end at the same step)."""
        every = int(getattr(self.trainer, "log_every_n_steps", 50))  # set by Lightning at run time
        return bool(every) and self.global_step % every == 0 and self.global_step != self._counts.logged_at

    def on_train_batch_end(self, outputs: Any, batch: Batch, batch_idx: int) -> None:
        # Same cadence as Lightning's step logging, so each logged value reaches the loggers.
        # The final batch of the run logs too, so even a run shorter than the interval has train/loss.
        trainer = self.trainer
        final = (batch_idx + 1 >= trainer.num_training_batches and self.current_epoch + 1 == trainer.max_epochs) or (
            0 <= trainer.max_steps <= self.global_step
        )
        due = self._window_due()
        if self._counts.window and (due or final):
            mean = self._window_sum / self._counts.window
            # Not prog_bar: Lightning would turn it into a number after every batch (a host sync per step on
            # a GPU); mlplab's RichProgressBar shows it, read only when logged.
            self.log("train/loss", mean, on_step=True, on_epoch=False, sync_dist=True)
            self._window_sum.zero_()
            self._counts.window = 0
            self._counts.logged_at = self.global_step
            if not due and not trainer.should_stop:
                # Lightning hands step metrics to the loggers only every log_every_n_steps: the run's last
                # window (all of a run shorter than that) would reach metrics.json but no curve. Same step
                # index as Lightning's points (its count of steps before this one).
                value = float(trainer.callback_metrics["train/loss"])  # synced over ranks by self.log
                for logger in self.loggers:  # with the epoch, as Lightning's own step points have it
                    logger.log_metrics({"train/loss": value, "epoch": self.current_epoch}, step=self.global_step - 1)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The running sums, so a resumed run's first train/loss window and its epoch's mean are whole. A save
        # at a batch's end (callbacks run first) comes before this module logs that step's window: left out.
        logged_after = self._window_due()
        # Every rank builds the checkpoint, rank 0's is written: the ranks' mean window sum, which restored on
        # every rank gives the same synced train/loss as the uninterrupted run.
        window_sum = self.trainer.strategy.reduce(self._window_sum.clone(), reduce_op="mean")
        checkpoint["train_loss_sums"] = {
            "window_sum": 0.0 if logged_after else float(window_sum),
            "window": 0 if logged_after else self._counts.window,
            "epoch_sum": float(self._epoch_sum),
            "epoch": self._counts.epoch,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning resumes mid-epoch without on_train_epoch_start, or starts the next epoch with it (a reset).
        sums = checkpoint.get("train_loss_sums")
        if sums:
            self._window_sum.fill_(sums["window_sum"])
            self._epoch_sum.fill_(sums["epoch_sum"])
            self._counts.window, self._counts.epoch = int(sums["window"]), int(sums["epoch"])

    @property
    def epoch_train_loss(self) -> Tensor | None:
        """Mean training loss of the current (or just finished) epoch, still on the device."""
        return self._epoch_sum / self._counts.epoch if self._counts.epoch else None

    def _eval_step(self, batch: Batch, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        x, y = batch
        pred = self.net(x)
        # One entry per sample = a sample-weighted mean. (MeanMetric's `weight` is silently ignored
        # under nan_strategy="disable" in torchmetrics 1.9; "disable" avoids a host sync per batch.)
        loss_metric.update(self.loss_fn(pred, y).expand(len(x)))
        metrics.update(pred, y)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_loss, self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_loss, self.test_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val", self.val_loss, self.val_metrics)
        noise_variance = getattr(getattr(self.trainer, "datamodule", None), "noise_variance", None)
        if noise_variance is not None:
            # The best MSE any model can reach on this data: val/mse is read against it.
            # The same constant on every rank; sync_dist says so to Lightning (else it warns under DDP).
            self.log("val/noise_floor", float(noise_variance), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self._log_eval("test", self.test_loss, self.test_metrics)

    def _log_eval(self, stage: str, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        # compute() syncs metric states over ranks, so these are whole-split values; reset() keeps
        # the sanity check and earlier epochs out of the next result.
        loss = loss_metric.compute()
        values = metrics.compute()
        loss_metric.reset()
        metrics.reset()
        # Already equal on every rank; sync_dist only tells Lightning so (an all-reduce of equal values).
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", sync_dist=True)
        self.log_dict(values, sync_dist=True)

    def predict_step(self, batch: Batch | Tensor, batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.net(x)

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("model.optimizer is not set; choose one with optimizer=sgd or optimizer=adam")
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
