"""Stops a run whose loss or weights went NaN/inf, before such weights can be saved over a good checkpoint."""

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor

from mlplab.callbacks.lean import LeanCallback
from mlplab.callbacks.train_loss import epoch_train_loss
from mlplab.errors import TrainingDiverged

ADVICE = "lower optimizer.lr{now}, clip gradients (trainer.gradient_clip_val=1.0), or add a schedule (scheduler=cosine)"


def all_finite(tensors: list[Tensor]) -> bool:
    """One host sync for the lot, not one per tensor."""
    floats = [t.detach().isfinite().all() for t in tensors if t.is_floating_point()]
    return bool(torch.stack(floats).all()) if floats else True


def diverged_message(what: str, epoch: int, step: int, lr: float | None) -> str:
    now = f" (now {lr:g})" if lr is not None else ""
    return f"training diverged: {what} at epoch {epoch}, step {step}. Try: " + ADVICE.format(now=now)


def _lr(trainer: L.Trainer) -> float | None:
    """The configured rate, before any schedule."""
    group = trainer.optimizers[0].param_groups[0] if trainer.optimizers else {}
    return group.get("initial_lr", group.get("lr"))


def _checkpoint_lr(checkpoint: Mapping[str, Any]) -> float | None:
    try:
        group = checkpoint["optimizer_states"][0]["param_groups"][0]
        return float(group.get("initial_lr", group["lr"]))
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def refuse_nonfinite_checkpoint(checkpoint: Mapping[str, Any], path: str) -> None:
    """Raises instead of letting NaN/inf weights replace ``path`` (the last good checkpoint stays)."""
    state = checkpoint.get("state_dict", {})
    if all_finite([t for t in state.values() if isinstance(t, Tensor)]):
        return
    what = f"the weights hold NaN/inf (not saved to {path}; the last good checkpoint is kept)"
    raise TrainingDiverged(
        diverged_message(
            what, int(checkpoint.get("epoch", 0)), int(checkpoint.get("global_step", 0)), _checkpoint_lr(checkpoint)
        )
    )


class DivergenceGuard(LeanCallback):
    """Checks the epoch's training loss and the weights (one host sync per check).

    At an epoch's end once ``trainer.log_every_n_steps`` steps have passed since the last check (every
    epoch would cost more than a tutorial epoch's training step), at the end of training, and before each
    validation in ``fit`` and before each checkpoint. Those run on every rank, so under DDP all ranks stop
    together instead of rank 0 alone refusing the save. Whatever the cadence,
    NaN weights are never saved: :func:`refuse_nonfinite_checkpoint` guards every write.
    """

    def __init__(self) -> None:
        self._checked_at_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._checked_at_step = trainer.global_step

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.training or (trainer.state.fn == "fit" and not trainer.sanity_checking):
            self.check(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Finite weights can still give an inf val/loss (float32 overflows in the squares); before
        # ModelCheckpoint (Lightning runs checkpoint callbacks last) would keep it as the "best".
        loss = trainer.callback_metrics.get("val/loss")
        fitting = trainer.state.fn == "fit" and not trainer.sanity_checking
        if fitting and isinstance(loss, Tensor) and not all_finite([loss]):
            what = "the validation loss became NaN/inf"
            raise TrainingDiverged(diverged_message(what, trainer.current_epoch, trainer.global_step, _lr(trainer)))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        every = max(1, int(getattr(trainer, "log_every_n_steps", 50)))  # set by Lightning at run time
        due = trainer.global_step - self._checked_at_step >= every
        if due or trainer.current_epoch + 1 >= (trainer.max_epochs or 0) > 0:
            self.check(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > self._checked_at_step:  # e.g. stopped by max_steps between checks
            self.check(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Every rank builds the checkpoint, only rank 0 writes it: checking here stops all ranks together
        # where rank 0 alone would refuse the write (an epoch-end save without validation, between checks).
        if trainer.global_step > self._checked_at_step:
            self.check(trainer, pl_module)

    def check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Raises :class:`TrainingDiverged` if the loss or any weight is NaN/inf."""
        self._checked_at_step = trainer.global_step
        loss = epoch_train_loss(trainer)
        tensors = [*pl_module.parameters()] + ([loss] if isinstance(loss, Tensor) else [])
        if all_finite(tensors):
            return
        what = "the training loss or the weights became NaN/inf"
        message = diverged_message(what, trainer.current_epoch, trainer.global_step, _lr(trainer))
        last = getattr(trainer.checkpoint_callback, "last_model_path", "")
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was saved before it"
        raise TrainingDiverged(f"{message} ({where})")
