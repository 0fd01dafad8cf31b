"""Lightning's own loop with nothing added: the floor under the project's Trainer path."""

import time
import warnings
from collections.abc import Iterator

import lightning as L
import torch


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


def bare_fit(model: L.LightningModule, batches: GatheredBatches, accelerator: str, epochs: int) -> float:
    """Seconds for Lightning's own loop with nothing added: no callbacks, logger, validation, or DataLoader."""
    bare = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        # "You defined a validation_step but have no val_dataloader": the floor leaves validation out on purpose.
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
        start = time.perf_counter()
        bare.fit(model, train_dataloaders=batches)
        return time.perf_counter() - start
