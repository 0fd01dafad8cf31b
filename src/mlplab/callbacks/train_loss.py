"""``train/loss``: the mean training loss over each logging window, with no host sync per step."""

from typing import Any

import lightning as L
import torch
from torch import Tensor

from mlplab.callbacks.lean import LeanCallback


class TrainLoss(LeanCallback):
    """Sums each step's loss on the device and logs the window's mean every ``trainer.log_every_n_steps``.

    ``self.log`` on every step costs ~1 ms and Lightning's ``on_epoch`` mean syncs the host; device-side
    sums cost neither. The epoch's mean feeds the tutorial's ``Epoch: N, Loss: …`` line and the
    divergence check. The sums are checkpointed, so a resumed run's windows and epoch means are whole.
    The LightningModule brings it (``configure_callbacks``), so any Trainer that fits the module logs it.

    Where the module trains on standardized targets it sets ``train_loss_raw`` in each ``training_step``: that
    step's loss in raw units (detached), summed here instead of the backpropagated loss, so ``train/loss`` is
    in the units of ``val/*``. ``None`` (the default, and always for synthetic data) sums the loss itself.
    """

    def __init__(self) -> None:
        # One plain tensor per rank, [window sum, epoch sum]: each step adds its loss to both in one op.
        # Module buffers would be overwritten with rank 0's by DDP.
        self._place(torch.zeros(2))
        self.window = self.epoch = 0  # batches in each
        self.logged_at = -1  # the global step train/loss was last logged at
        self.every = 50  # trainer.log_every_n_steps, read at setup
        self.trainer: L.Trainer | None = None

    def _place(self, sums: Tensor) -> None:
        self.sums = sums
        self.window_sum, self.epoch_sum = sums[0], sums[1]  # views: zeroed and read one at a time

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.trainer = trainer  # state_dict() needs it, and gets none
        self.every = int(getattr(trainer, "log_every_n_steps", 50))  # set by Lightning, untyped

    @property
    def epoch_mean(self) -> Tensor | None:
        """Mean training loss of the current (or just finished) epoch, still on the device."""
        return self.epoch_sum / self.epoch if self.epoch else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.logged_at = trainer.global_step  # a resumed run's first step is not logged twice
        self._place(self.sums.to(pl_module.device))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_sum.zero_()
        self.epoch = 0

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        # Here, not at the batch's end: a callback that saves there may run first, and must find this step's
        # loss in the sums. Lightning passes the loss divided by accumulate_grad_batches, as backpropagated;
        # the module's raw-units loss is the step's own.
        raw = getattr(pl_module, "train_loss_raw", None)
        if raw is not None:
            loss = raw.detach()
        else:
            k = trainer.accumulate_grad_batches
            loss = loss.detach() if k == 1 else loss.detach() * k
        self.sums.add_(loss)
        self.window += 1
        self.epoch += 1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.window:
            return
        step = trainer.global_step
        if self._due(step) or (
            (batch_idx + 1 >= trainer.num_training_batches and trainer.current_epoch + 1 == trainer.max_epochs)
            or 0 <= trainer.max_steps <= step
        ):
            self._log_window(trainer, step)

    def _due(self, step: int) -> bool:
        """Lightning's step-logging cadence, once per global step (accumulated batches share a step)."""
        return bool(self.every) and step % self.every == 0 and step != self.logged_at

    def _log_window(self, trainer: L.Trainer, step: int) -> None:
        """The window's mean into ``trainer.callback_metrics`` and the loggers, as ``self.log`` would put it.

        Not through ``self.log``: each call costs ~0.5 ms (Lightning moves its result object, metadata and
        all, to the value's device), and a logged step metric makes Lightning rebuild its metric dicts after
        every batch (~15 µs a step), as ``make bench`` showed. Not ``prog_bar`` either (a host read per
        step); mlplab's RichProgressBar reads it only when logged.
        """
        # The ranks' mean, as log(sync_dist=True) made it (a collective: every rank logs the same windows).
        mean = trainer.strategy.reduce(self.window_sum / self.window, reduce_op="mean")
        trainer.callback_metrics["train/loss"] = mean  # the dict Lightning keeps (metrics.json, the bar)
        self.window_sum.zero_()
        self.window = 0
        self.logged_at = step
        if trainer.loggers:
            # At Lightning's step index for step metrics (its count of steps before this one), with the epoch
            # as Lightning adds it; also the run's last window, off the cadence.
            value = float(mean)
            for logger in trainer.loggers:
                logger.log_metrics({"train/loss": value, "epoch": trainer.current_epoch}, step=step - 1)

    def state_dict(self) -> dict[str, Any]:
        # A save at a batch's end may come before this step's window is logged (callbacks that save may run
        # first): that window is logged right after, below the checkpoint's step, so it is not saved.
        logged_after = self.trainer is not None and self._due(self.trainer.global_step)
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
