"""``val/noise_floor``: the lowest MSE any model can reach, for data that knows it."""

import lightning as L

from mlplab.callbacks.lean import LeanCallback


class NoiseFloor(LeanCallback):
    """Logs ``val/noise_floor``, the best MSE any model can reach on data that knows it (synthetic data):
    ``val/mse`` is read against it."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        noise_variance = getattr(getattr(trainer, "datamodule", None), "noise_variance", None)
        if noise_variance is not None:
            # The same constant on every rank; sync_dist says so to Lightning (else it warns under DDP).
            pl_module.log("val/noise_floor", float(noise_variance), sync_dist=True)
