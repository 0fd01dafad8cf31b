"""Ctrl-C (SIGINT) or SIGTERM mid-run: save a checkpoint of that moment, then exit 130 / 143.

The signal handler only raises a flag and wakes this callback's per-batch hooks (until then Lightning does
not call them); the checkpoint is written at the next batch (or epoch) end, where the state is consistent, so
no half-done optimizer step is ever saved. A second signal, or one outside the training loop, stops at once
(mlplab.run.exit_codes's handler; the last checkpoint on disk is then the latest state).
"""

import signal
import sys
from pathlib import Path
from subprocess import Popen
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from mlplab.callbacks.lean import LeanCallback
from mlplab.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Nothing to do in these before a signal: asleep until then, they cost the run nothing per step.
ON_SIGNAL = ("on_train_batch_start", "on_train_batch_end", "on_train_epoch_start", "on_train_epoch_end")


class InterruptCheckpoint(LeanCallback):
    """Armed during ``fit``; saves ``path`` and raises :class:`Interrupted` once a signal has arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.armed = False
        self.signum: int | None = None
        self.saved_at: tuple[int, int] | None = None  # (epoch, step) of the checkpoint written on a signal
        self._previous: dict[int, Any] = {}
        self._ranks: list[Popen[bytes]] = []  # under DDP, the processes of the other ranks this one started
        self.skip(*ON_SIGNAL)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.armed or self.signum is not None:
            for proc in self._ranks:  # they would wait for this process in their next collective
                if proc.poll() is None:
                    proc.kill()
            raise Interrupted(signum, f"interrupted by {name}; resume with ckpt_path=last (same hydra.run.dir)")
        self.signum = signum
        self.wake(*ON_SIGNAL)
        print(f"\n{name}: saving a checkpoint after this step, then stopping (again to stop at once)", file=sys.stderr)

    def _install(self) -> None:
        # Also replaces Lightning's SIGTERM handler, which would stop only at the epoch's end.
        for signum in SIGNALS:
            self._previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self.handle)

    def _uninstall(self) -> None:
        self.armed = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size == 1:
            self.armed = True
            self._install()
            return
        # Under DDP the ranks would save at different steps: no save, a stop at once. Only the process that
        # started the others has a handler: Lightning's, on a signal to that process alone, broadcasts to
        # ranks that are in another collective and hangs until the timeout.
        self._ranks = list(getattr(trainer.strategy.launcher, "procs", None) or [])
        if self._ranks:
            self._install()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # An epoch's last batch waits for its validation: Lightning would skip that on resume. A batch that
        # only accumulated gradients waits for the step: a checkpoint cannot hold half-summed gradients.
        stepped = (batch_idx + 1) % trainer.accumulate_grad_batches == 0
        if self.signum is not None and stepped and not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.signum is not None:
            self._save(trainer)

    # Stopping waits for the next hook, so what this step logs (below the checkpoint's step) is written.
    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._stop_if_saved(trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_if_saved(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_if_saved(trainer)
        self._uninstall()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._uninstall()

    def _save(self, trainer: L.Trainer) -> None:
        if self.saved_at is None:
            self.armed = False  # a signal during the save now stops at once
            for callback in trainer.checkpoint_callbacks:
                # Claim the file for ModelCheckpoint, or after the resume it writes last-v1.ckpt beside it.
                if (
                    isinstance(callback, ModelCheckpoint)
                    and callback.dirpath
                    and Path(callback.dirpath) == self.path.parent
                ):
                    callback.last_model_path = str(self.path)
            trainer.save_checkpoint(self.path, weights_only=False)  # the full state: this is what resumes
            self.saved_at = (trainer.current_epoch, trainer.global_step)

    def _stop_if_saved(self, trainer: L.Trainer) -> None:
        if self.signum is None or self.saved_at is None:
            return
        epoch, step = self.saved_at
        name = signal.Signals(self.signum).name
        raise Interrupted(
            self.signum,
            f"interrupted by {name} at epoch {epoch}, step {step}: saved {self.path}; "
            "resume with ckpt_path=last (same hydra.run.dir)",
        )
