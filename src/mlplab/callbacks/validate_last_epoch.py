"""A run's last epoch ends with a validation of its final weights, whatever ``trainer.check_val_every_n_epoch``
says."""

import lightning as L

from mlplab.callbacks.lean import LeanCallback


class ValidateLastEpoch(LeanCallback):
    """The tutorial validates every 1000 epochs: a 50-epoch run would otherwise end with no ``val/loss``, no
    best checkpoint to test, and no final metrics. Validation inside epochs (``trainer.val_check_interval``
    below 1, or counted in steps) and a run cut mid-epoch by ``trainer.max_steps`` keep Lightning's cadence:
    their last validation is the last one that cadence reached (docs/runs-and-resume.md)."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = trainer.max_epochs is not None and trainer.current_epoch == trainer.max_epochs - 1
        if last and trainer.check_val_every_n_epoch is not None:
            trainer.check_val_every_n_epoch = 1
