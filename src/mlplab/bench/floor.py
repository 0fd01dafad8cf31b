"""Lightning's own loop with nothing of the project: the floor under the project's Trainer path."""

import time
from collections.abc import Iterator
from typing import cast

import lightning as L
import torch
from torch import nn


class GatheredBatches:
    """Seeded-shuffle gathers of whole tensors (or the whole set when ``batch_size`` is None): no DataLoader.
    ``seed=None``: consecutive slices in order (a validation pass, as the hand loop makes it)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int | None, seed: int | None) -> None:
        self.x, self.y, self.seed = x, y, seed
        self.batch_size = batch_size or len(x)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.batch_size >= len(self.x):
            yield self.x, self.y
            return
        if self.seed is None:
            for i in range(0, len(self.x), self.batch_size):
                yield self.x[i : i + self.batch_size], self.y[i : i + self.batch_size]
            return
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.seed)).to(self.x.device)
        for i in range(0, len(self.x), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield self.x[idx], self.y[idx]

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)


class TutorialModule(L.LightningModule):
    """The tutorial's step as the plainest LightningModule: ``training_step`` and ``configure_optimizers`` only.

    ``manual`` steps the optimizer in ``training_step`` itself (Lightning's manual optimization): the
    leanest loop Lightning offers, without its closure, ``LightningOptimizer`` and precision-plugin layers.
    """

    def __init__(self, net: nn.Module, manual: bool = False) -> None:
        super().__init__()
        self.net = net
        self.criterion = nn.MSELoss()
        self.automatic_optimization = not manual
        self.val_total: torch.Tensor | None = None
        self.val_loss = float("nan")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        x, y = batch
        if self.automatic_optimization:
            return self.criterion(self.net(x), y)
        optimizer = cast(torch.optim.Optimizer, self.optimizers(use_pl_optimizer=False))
        optimizer.zero_grad()
        self.criterion(self.net(x), y).backward()
        optimizer.step()
        return None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class ValidatedTutorialModule(TutorialModule):
    """:class:`TutorialModule` with the hand loop's validation: a summed MSE, read once at the end."""

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y, reduction="sum")
        self.val_total = loss if self.val_total is None else self.val_total + loss

    def on_validation_epoch_end(self) -> None:
        if self.val_total is not None:
            self.val_loss = float(self.val_total)  # the hand loop also reads its validation result once
            self.val_total = None


def bare_fit(
    net: nn.Module,
    batches: GatheredBatches,
    accelerator: str,
    epochs: int,
    manual: bool = False,
    val: GatheredBatches | None = None,
) -> float:
    """Seconds for Lightning's ``barebones`` loop over ``net``: no callbacks, logger, checkpoints, progress bar
    or DataLoader; with ``val``, a validation after the last epoch (as the hand loop's)."""
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        barebones=True,
        check_val_every_n_epoch=epochs if val is not None else 1,
    )
    start = time.perf_counter()
    module = TutorialModule(net, manual) if val is None else ValidatedTutorialModule(net, manual)
    trainer.fit(module, train_dataloaders=batches, val_dataloaders=val)
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start
