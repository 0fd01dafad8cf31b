"""The tutorial's ``print(f"Epoch: {epoch + 1}, Loss: {loss}")`` every N epochs, as a callback."""

import lightning as L

from mlplab.callbacks.lean import LeanCallback
from mlplab.callbacks.train_loss import epoch_train_loss
from mlplab.rules import Positive, checked


class EpochPrinter(LeanCallback):
    """Prints ``Epoch: 100, Loss: 0.1234`` after every ``every_n_epochs``-th training epoch."""

    @checked("callbacks.epoch_printer")
    def __init__(self, every_n_epochs: Positive = 100) -> None:
        self.every_n_epochs = every_n_epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs:
            return
        # The epoch's own mean loss (for a full batch: that step's loss, as the tutorial prints it).
        loss = epoch_train_loss(trainer)
        if loss is None:
            return
        # Each rank has its share's mean: the ranks' mean (equal shares) is the whole epoch's, as one
        # process would print it. Every rank takes part in this collective; rank 0 prints.
        loss = trainer.strategy.reduce(loss.detach().clone(), reduce_op="mean")
        if trainer.is_global_zero:
            # One host sync every N epochs, not every step.
            print(f"Epoch: {epoch}, Loss: {loss.item():.4f}", flush=True)
