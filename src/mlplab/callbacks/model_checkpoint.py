"""Lightning's ModelCheckpoint, with step-interval saves that never skip a validation on resume, and a
``last.ckpt`` that is always the run's final state."""

import inspect
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint as LightningModelCheckpoint

from mlplab.callbacks.lean import LeanCallback
from mlplab.compat.lightning import save_last_now, saves_on_train_epoch_end


class ModelCheckpoint(LeanCallback, LightningModelCheckpoint):
    """Same arguments and files as Lightning's; one difference in *when* a save happens.

    A step-interval save (``every_n_train_steps``, ``train_time_interval``) that falls on an epoch's last
    batch waits for that epoch's end, after its validation. Lightning resumes a checkpoint taken at the
    last batch as if the epoch's validation had already run, so that validation's ``val/*`` points and
    best-model check would be lost to a resumed run (Lightning's ``_TrainingEpochLoop.advance``).
    And ``last.ckpt`` is brought up to the run's last step when training ends.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred = False
        self._state_key = super().state_key
        given = inspect.signature(LightningModelCheckpoint.__init__).bind(self, *args, **kwargs).arguments
        if not given.get("every_n_train_steps") and given.get("train_time_interval") is None:
            # No step-interval saves: Lightning's batch-end hook would only find, every step, that there is
            # nothing to save (and the deferral below has nothing to defer).
            self.skip("on_train_batch_end")

    @property
    def state_key(self) -> str:
        # Lightning's key (it names this callback's state in checkpoints), made once: Lightning formats it
        # for every hook call, from arguments that do not change after __init__.
        return self._state_key

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        last = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch or batch_idx + 1 >= trainer.num_training_batches
        # With a monitor and validation not at epoch end, Lightning itself holds the save for validation's end.
        if last and (self.monitor is None or saves_on_train_epoch_end(self, trainer)):
            self._deferred = True
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._deferred:
            self._deferred = False
            # The step-interval save of the epoch's last batch: its step still counts, validation is done.
            last = trainer.num_training_batches
            super().on_train_batch_end(trainer, pl_module, None, None, int(last) - 1 if last != float("inf") else -1)
        if saves_on_train_epoch_end(self, trainer):  # else Lightning's hook checks more, then does nothing
            super().on_train_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning saves here only if it never saved: with validation inside epochs (val_check_interval < 1)
        # or step-interval saves, the run can end steps after its last save.
        # Lightning 2.6's own on_train_end would save last.ckpt even under fast_dev_run (set by it, untyped).
        if getattr(trainer, "fast_dev_run", False):
            return
        if not (self.save_last and save_last_now(self, trainer)):
            super().on_train_end(trainer, pl_module)
