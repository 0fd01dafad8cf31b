"""Every run ends with a validation of its final weights, whatever ``trainer.check_val_every_n_epoch`` says."""

import lightning as L

from mlplab.callbacks.lean import LeanCallback


class ValidateLastEpoch(LeanCallback):
    """The tutorial validates every 1000 epochs: a 50-epoch run would otherwise end with no ``val/loss``, no
    best checkpoint to test, and no final metrics. Validation counted in steps (``check_val_every_n_epoch:
    null``) is left as configured."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = trainer.max_epochs is not None and trainer.current_epoch == trainer.max_epochs - 1
        if last and trainer.check_val_every_n_epoch is not None:
            trainer.check_val_every_n_epoch = 1
