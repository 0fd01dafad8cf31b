"""``train/loss``: the mean training loss over each logging window, with no host sync per step."""

from typing import Any

import lightning as L
import torch
from torch import Tensor


class TrainLoss(L.Callback):
    """Sums each step's loss on the device and logs the window's mean every ``trainer.log_every_n_steps``.

    ``self.log`` on every step costs ~1 ms and Lightning's ``on_epoch`` mean syncs the host; device-side
    sums cost neither. The epoch's mean feeds the tutorial's ``Epoch: N, Loss: …`` line and the
    divergence check. The sums are checkpointed, so a resumed run's windows and epoch means are whole.
    The LightningModule brings it (``configure_callbacks``), so any Trainer that fits the module logs it.
    """

    def __init__(self) -> None:
        # Plain tensors, one set per rank: module buffers would be overwritten with rank 0's by DDP.
        self.window_sum, self.epoch_sum = torch.zeros(()), torch.zeros(())
        self.window = self.epoch = 0  # batches in each
        self.logged_at = -1  # the global step train/loss was last logged at
        self.trainer: L.Trainer | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.trainer = trainer  # state_dict() needs it, and gets none

    @property
    def epoch_mean(self) -> Tensor | None:
        """Mean training loss of the current (or just finished) epoch, still on the device."""
        return self.epoch_sum / self.epoch if self.epoch else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.logged_at = trainer.global_step  # a resumed run's first step is not logged twice
        self.window_sum = self.window_sum.to(pl_module.device)
        self.epoch_sum = self.epoch_sum.to(pl_module.device)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_sum.zero_()
        self.epoch = 0

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        # Here, not at the batch's end: a callback that saves there may run first, and must find this step's
        # loss in the sums. Lightning passes the loss divided by accumulate_grad_batches, as backpropagated.
        k = trainer.accumulate_grad_batches
        loss = loss.detach() if k == 1 else loss.detach() * k
        self.window_sum.add_(loss)
        self.epoch_sum.add_(loss)
        self.window += 1
        self.epoch += 1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.window:
            return
        due = self._due(trainer)
        final = (batch_idx + 1 >= trainer.num_training_batches and trainer.current_epoch + 1 == trainer.max_epochs) or (
            0 <= trainer.max_steps <= trainer.global_step
        )
        if due or final:
            self._log_window(trainer, pl_module, to_loggers=not due and not trainer.should_stop)

    def _due(self, trainer: L.Trainer) -> bool:
        """Lightning's step-logging cadence, once per global step (accumulated batches share a step)."""
        every = int(getattr(trainer, "log_every_n_steps", 50))  # set by Lightning at run time, untyped
        return bool(every) and trainer.global_step % every == 0 and trainer.global_step != self.logged_at

    def _log_window(self, trainer: L.Trainer, pl_module: L.LightningModule, to_loggers: bool) -> None:
        # Not prog_bar: Lightning would turn it into a number after every batch (a host sync per step on a
        # GPU); mlplab's RichProgressBar reads it only when logged.
        pl_module.log("train/loss", self.window_sum / self.window, on_step=True, on_epoch=False, sync_dist=True)
        self.window_sum.zero_()
        self.window = 0
        self.logged_at = trainer.global_step
        if to_loggers:
            # Lightning hands step metrics to the loggers only every log_every_n_steps: the run's last window
            # (all of a run shorter than that) would reach metrics.json but no curve. Same step index as
            # Lightning's points (its count of steps before this one), with the epoch as those have it.
            value = float(trainer.callback_metrics["train/loss"])  # synced over ranks by log()
            for logger in trainer.loggers:
                logger.log_metrics({"train/loss": value, "epoch": trainer.current_epoch}, step=trainer.global_step - 1)

    def state_dict(self) -> dict[str, Any]:
        # A save at a batch's end may come before this step's window is logged (callbacks that save may run
        # first): that window is logged right after, below the checkpoint's step, so it is not saved.
        logged_after = self.trainer is not None and self._due(self.trainer)
        # Built on every rank, rank 0's is written: the ranks' mean window sum, which restored on every rank
        # gives the same synced train/loss as the uninterrupted run. A collective: every rank saves.
        window_sum = self.window_sum.clone()
        if self.trainer is not None:
            window_sum = self.trainer.strategy.reduce(window_sum, reduce_op="mean")
        return {
            "window_sum": 0.0 if logged_after else float(window_sum),
            "window": 0 if logged_after else self.window,
            "epoch_sum": float(self.epoch_sum),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Lightning resumes mid-epoch without on_train_epoch_start, or starts the next epoch with it (a reset).
        self.window_sum.fill_(state_dict["window_sum"])
        self.epoch_sum.fill_(state_dict["epoch_sum"])
        self.window, self.epoch = int(state_dict["window"]), int(state_dict["epoch"])


def epoch_train_loss(trainer: L.Trainer) -> Tensor | None:
    """The current epoch's mean training loss, or the last logged ``train/loss`` without a TrainLoss."""
    for callback in getattr(trainer, "callbacks", []):  # set by Lightning's connector, untyped
        if isinstance(callback, TrainLoss):
            return callback.epoch_mean
    logged = trainer.callback_metrics.get("train/loss")
    return logged if isinstance(logged, Tensor) else None
