"""Lightning's LearningRateMonitor, called only where it can log."""

from typing import Any

from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor

from mlplab.callbacks.lean import LeanCallback


class LearningRateMonitor(LeanCallback, LightningLearningRateMonitor):
    """Same arguments and logs as Lightning's. With ``logging_interval="step"`` its epoch-start hook has
    nothing to do, and with ``"epoch"`` its batch-start hook: Lightning no longer calls the idle one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.logging_interval == "step":
            self.skip("on_train_epoch_start")
        elif self.logging_interval == "epoch":
            self.skip("on_train_batch_start")
