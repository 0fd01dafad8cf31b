"""What Lightning's resume leaves out: RNG states, and a consistent loop position after an epoch's last batch.

Lightning's checkpoints hold no RNG state (Lightning issue #17543); they are stored here as tensors and
plain numbers, so the checkpoint still loads weights-only. The train loader's position is saved by
:class:`mlplab.data.resumable.ResumableDataLoader`.
"""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from mlplab.callbacks.lean import LeanCallback
from mlplab.compat.lightning import finish_epoch_on_last_batch


def capture_rng() -> dict[str, Any]:
    version, mt_state, gauss = random.getstate()
    np_state: Any = np.random.get_state(legacy=True)
    kind, keys, pos, has_gauss, cached = np_state
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "cached": cached,
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeState(LeanCallback):
    """RNG states saved with each checkpoint (this process's: rank 0's under DDP) and restored on resume.

    Also flushes the loggers at each checkpoint and once more at the next step (whose logs Lightning
    writes after a step-end save): a resume purges the event files back to the checkpoint, so what the
    killed run logged before it must already be on disk, or the curves would have a gap.
    """

    def __init__(self) -> None:
        self.skip("on_train_batch_start")  # woken by a save, for the step after it

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._flush(trainer)
        self.wake("on_train_batch_start")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._flush(trainer)
        self.skip("on_train_batch_start")

    @staticmethod
    def _flush(trainer: L.Trainer) -> None:
        for logger in trainer.loggers:
            logger.save()  # CSV: writes its rows; TensorBoard: only hparams.yaml, so its writer is flushed too
            if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
                logger.experiment.flush()

    def state_dict(self) -> dict[str, Any]:
        return capture_rng()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            restore_rng(state_dict)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Called before Lightning restores its loops from the same dict.
        if "loops" in checkpoint:
            finish_epoch_on_last_batch(checkpoint["loops"])
