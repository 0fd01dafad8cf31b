"""Lightning's own loop with nothing of the project: the floor under the project's Trainer path."""

import time
from collections.abc import Iterator
from typing import cast

import lightning as L
import torch
from torch import nn


class GatheredBatches:
    """Seeded-shuffle gathers of whole tensors (or the whole set when ``batch_size`` is None): no DataLoader."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int | None, seed: int) -> None:
        self.x, self.y, self.seed = x, y, seed
        self.batch_size = batch_size or len(x)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.batch_size >= len(self.x):
            yield self.x, self.y
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


def bare_fit(net: nn.Module, batches: GatheredBatches, accelerator: str, epochs: int, manual: bool = False) -> float:
    """Seconds for Lightning's ``barebones`` loop over ``net``: no callbacks, logger, validation or DataLoader."""
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, barebones=True)
    start = time.perf_counter()
    trainer.fit(TutorialModule(net, manual), train_dataloaders=batches)
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start
