"""What both tasks' LightningModules share: the seed's Net, its optimizer, standardization, sizes from the data."""

from collections.abc import Callable
from typing import Any, Literal

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from mlplab.callbacks.noise_floor import NoiseFloor
from mlplab.callbacks.train_loss import TrainLoss
from mlplab.callbacks.validate_last_epoch import ValidateLastEpoch
from mlplab.compat.lightning import PlainHookName
from mlplab.model.net import Net
from mlplab.model.standardize import RawUnits, Standardize, in_raw_units

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
Batch = tuple[Tensor, Tensor]
# torch.compile's modes; "reduce-overhead" captures the step in CUDA graphs on a GPU.
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


class MLPModule(PlainHookName):
    """Subclasses set the loss and metrics. Sizes left ``None`` are read from the datamodule at ``setup`` (and
    then saved in the hyperparameters, so a checkpoint rebuilds the same net)."""

    net: nn.Module
    loss_fn: nn.Module
    x_scale: Standardize | None
    y_scale: Standardize | None
    scales_targets = False  # regression standardizes its targets too
    train_loss_raw: Tensor | None = None  # the last step's loss in raw units, where the targets are standardized
    net_compiled = False  # model.compile done: a second fit of this module keeps the compiled net

    def _parts(self, optimizer: OptimizerFactory | None, scheduler: SchedulerFactory | None) -> None:
        """Called by each subclass's ``__init__`` after ``save_hyperparameters``."""
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.x_scale = self.y_scale = None
        if self.hparams["in_dim"] is not None and self.hparams["out_dim"] is not None:
            self._build()

    def _build(self) -> None:
        hp = self.hparams
        self.net = Net(hp["in_dim"], hp["hidden_dim"], hp["out_dim"])
        if hp.get("standardize"):
            self.x_scale = Standardize(hp["in_dim"])
            self.y_scale = Standardize(hp["out_dim"]) if self.scales_targets else None
        self.build_metrics()

    def build_metrics(self) -> None:
        """Metrics that need the sizes (the number of classes) are made here."""

    def set_metrics(self, metrics: MetricCollection, scale_free: MetricCollection | None = None) -> None:
        """``metrics`` score raw units; ``scale_free`` ones (R²) score standardized targets, where torchmetrics'
        float32 sums and fixed tolerances hold up whatever the targets' scale and offset (the same value)."""
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_scale_free = scale_free.clone(prefix="val/") if scale_free else None
        self.test_scale_free = scale_free.clone(prefix="test/") if scale_free else None
        # Sample-weighted means over the whole split, synced over ranks by torchmetrics. "disable": no host
        # sync per batch to look for NaNs.
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.test_loss = MeanMetric(nan_strategy="disable")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, self.val_loss, self.val_metrics, self.val_scale_free)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, self.test_loss, self.test_metrics, self.test_scale_free)

    def _score(
        self, batch: Batch, loss: MeanMetric, metrics: MetricCollection, scale_free: MetricCollection | None
    ) -> None:
        x, y = batch
        pred = self(x)  # raw units
        # One entry per sample makes a sample-weighted mean (MeanMetric's `weight` is ignored under
        # nan_strategy="disable" in torchmetrics 1.9).
        loss.update(self.loss_fn(pred, y).expand(len(x)))
        metrics.update(pred, y)
        if scale_free is not None:
            scale_free.update(*(self.y_scale(t) for t in (pred, y)) if self.y_scale is not None else (pred, y))

    def on_validation_epoch_end(self) -> None:
        self._log_split("val", self.val_loss, self.val_metrics, self.val_scale_free)

    def on_test_epoch_end(self) -> None:
        self._log_split("test", self.test_loss, self.test_metrics, self.test_scale_free)

    def _log_split(
        self, split: str, loss: MeanMetric, metrics: MetricCollection, scale_free: MetricCollection | None
    ) -> None:
        # compute() syncs over ranks, so these are whole-split values (sync_dist only tells Lightning so);
        # reset() keeps the sanity check and earlier epochs out of the next result.
        self.log(f"{split}/loss", loss.compute(), prog_bar=split == "val", sync_dist=True)
        for collection in (metrics, scale_free) if scale_free is not None else (metrics,):
            self.log_dict(collection.compute(), sync_dist=True)
            collection.reset()
        loss.reset()

    def setup(self, stage: str) -> None:
        data = getattr(self.trainer, "datamodule", None)
        sizes = getattr(data, "sizes", None) if data is not None and getattr(data, "splits", None) else None
        if "net" not in self._modules:
            if not sizes:
                raise ValueError("model.in_dim/out_dim: not set, and no datamodule to read them from")
            self.hparams.update(sizes)
            self._build()
        elif sizes:  # what the net's sizes did not say: the labels, saved in the checkpoint for predict
            self.hparams.update({k: v for k, v in sizes.items() if k in self.hparams and self.hparams[k] is None})
        if stage == "fit" and self.hparams.get("compile") and not self.net_compiled:
            # In place (nn.Module.compile): the state_dict keys stay the eager net's, so checkpoints, eval,
            # predict and export are unchanged; only fitting (and the test after it) runs compiled.
            self.net.compile(mode=self.hparams["compile"])
            self.net_compiled = True
        if stage == "fit" and self.x_scale is not None and data is not None:
            # The training split's statistics; a resumed run then loads its checkpoint's, which are the same.
            x, y = data.training_rows()
            self.x_scale.fit(x.float())
            if self.y_scale is not None:
                self.y_scale.fit(y.float())

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """The tutorial's forward and loss; Lightning does zero_grad, backward and step around it."""
        x, y = self.scaled(batch)
        pred = self.net(x)
        if self.y_scale is not None:  # train/loss in raw units, like val/* (TrainLoss logs it)
            with torch.no_grad():
                self.train_loss_raw = self.loss_fn(self.y_scale.inverse(pred), batch[1])
        return self.loss_fn(pred, y)

    def scaled(self, batch: Batch) -> Batch:
        """A batch in the units the net is trained in."""
        x, y = batch
        if self.x_scale is not None:
            x = self.x_scale(x)
        if self.y_scale is not None:
            y = self.y_scale(y)
        return x, y

    def forward(self, x: Tensor) -> Tensor:
        """Raw inputs to raw outputs (logits, for classification)."""
        return in_raw_units(self.net, self.x_scale, self.y_scale, x)

    def predictor(self) -> nn.Module:
        """``forward`` as a plain module for predict and export: the net, with the scalers if any."""
        if self.x_scale is None and self.y_scale is None:
            return self.net
        return RawUnits(self.net, self.x_scale, self.y_scale)

    def predict_step(self, batch: Batch | Tensor, batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x)

    def configure_callbacks(self) -> list[L.Callback]:
        # What this module's runs log and how they end, with any Trainer: train/loss, a last validation. Once:
        # test after fit asks again, and Lightning would warn that it replaces the ones it has.
        have = {type(c) for c in getattr(self.trainer, "callbacks", [])} if self._trainer is not None else set()
        return [c() for c in (TrainLoss, ValidateLastEpoch, NoiseFloor) if c not in have]

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError("model.optimizer is not set; choose one with optimizer=sgd or optimizer=adam")
        try:
            optimizer = self.optimizer_factory(self.parameters())
        except ValueError as e:  # torch's own checks ("Invalid beta parameter at index 1: 2")
            raise ValueError(f"optimizer: {e}") from e
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # eval, predict and export rebuild this class from the checkpoint alone (mlplab.tasks.evaluate).
        checkpoint["mlplab_module"] = f"{type(self).__module__}.{type(self).__qualname__}"
        data = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        # A CSV's column names: predict matches its input by them, and heads its output with the targets'.
        for key in ("feature_names", "target_names"):
            if getattr(data, key, None):
                checkpoint[f"mlplab_{key}"] = list(getattr(data, key))
