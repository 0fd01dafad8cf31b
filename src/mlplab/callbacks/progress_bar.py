"""Lightning's rich progress bar, showing ``train/loss`` without a host sync per step."""

import time
from collections.abc import Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar as LightningRichProgressBar
from torch import Tensor

from mlplab.callbacks.lean import LeanCallback
from mlplab.compat.lightning import wake_refresh_thread_on_stop


class RichProgressBar(LeanCallback, LightningRichProgressBar):
    """Lightning's bar (same arguments), plus the logged metrics named in ``show``, read only when new.

    A metric logged with ``prog_bar=True`` on step is turned into a Python number by Lightning after every
    batch, even where it was not logged again: a host sync per step on a GPU. So ``train/loss`` is logged
    without ``prog_bar`` and this bar reads it (and Lightning's bar metrics) only where new values can
    be: the batch after each step Lightning logs (every ``trainer.log_every_n_steps``; the module logs
    after the callbacks' batch-end hooks), an epoch's end, and a validation's end.

    The bar is drawn ``refresh_rate`` times a second, so its count is moved on at most that often too (and at
    an epoch's last batch): Lightning's per-batch update cost ~10 µs a step (``make bench``).
    """

    def __init__(self, *args: Any, show: Sequence[str] = ("train/loss",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.show = tuple(show)
        self._shown: dict[str, Any] | None = None  # the metrics last read; None: read again
        self._logged = False  # the last batch was a logging step
        self._next_update = 0.0  # time.monotonic() from which the next batch moves the count on

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if self._shown is None:
            items = super().get_metrics(trainer, pl_module)
            logged = trainer.callback_metrics
            for name in self.show:
                value = logged.get(name)
                if isinstance(value, Tensor) and value.numel() == 1:
                    items[name] = value.item()
            self._shown = items
        return self._shown

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._logged:
            self._logged, self._shown = False, None
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._logged = trainer.global_step % max(1, int(getattr(trainer, "log_every_n_steps", 1))) == 0
        now = time.monotonic()
        if (
            now < self._next_update
            and self._shown is not None  # new metrics are read where they appear, not later
            and self.train_progress_bar_id is not None
            and not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        ):
            return
        self._next_update = now + 1 / max(self.refresh_rate, 1)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def _init_progress(self, trainer: L.Trainer) -> None:
        super()._init_progress(trainer)
        wake_refresh_thread_on_stop(self.progress)

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._shown = None  # Lightning drops the sanity check's val/* values
        super().on_sanity_check_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._shown = None
        super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._shown = None
        super().on_validation_end(trainer, pl_module)
