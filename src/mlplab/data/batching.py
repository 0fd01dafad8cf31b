"""Whole-batch indexing: one tensor gather per batch instead of per-sample ``__getitem__`` + collate.

The DataLoader runs with ``batch_size=None`` over :class:`BatchIndexSampler`, so each item it fetches is
already a batch. The sampler reproduces ``DistributedSampler`` + ``BatchSampler`` exactly (same seeded
permutation per epoch, same padding and rank shards), which the tests check.
"""

import math
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

Index = Tensor | slice


class TensorPairDataset(Dataset[tuple[Tensor, Tensor]]):
    """``(x, y)`` rows of two aligned tensors, fetched a whole batch of indices at a time."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        if len(x) != len(y):
            raise ValueError(f"features and targets differ in length: {len(x)} vs {len(y)}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: Index) -> tuple[Tensor, Tensor]:
        if isinstance(index, slice):
            return self.x[index], self.y[index]
        if index.device != self.x.device:
            index = index.to(self.x.device, non_blocking=True)
        # index_select rather than x[index]: the same rows, ~10 µs less per batch-1024 gather here (``make bench``).
        return self.x.index_select(0, index), self.y.index_select(0, index)

    def to(self, device: torch.device) -> "TensorPairDataset":
        self.x, self.y = self.x.to(device), self.y.to(device)
        return self


def rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BatchIndexSampler(Sampler[Index]):
    """Yields one index tensor (or a zero-copy slice) per batch of this rank's share of an epoch.

    ``pad`` repeats leading samples so every rank gets the same count (what training needs to keep
    ranks in step); evaluation uses ``pad=False`` so each sample is counted exactly once.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int | None,
        shuffle: bool,
        drop_last: bool = False,
        pad: bool = True,
        seed: int | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.pad = pad
        self.seed = seed
        self.device = device  # where the data lives: each epoch's order is copied there once
        self.epoch = 0
        self.start_batch = 0  # batches to skip when resuming mid-epoch
        self.batches_done = 0  # batches of the current pass handed out so far
        # Made by the data module's *_dataloader(), which Lightning calls once the process group is up; asked
        # for per epoch, rank and world would cost a torch.distributed query each time (make bench).
        self.rank, self.world = rank_and_world()
        n = math.ceil(num_samples / self.world) if pad else len(range(self.rank, num_samples, self.world))
        self._batch_size = batch_size or max(n, 1)  # this rank's whole share: full batch
        self._len = n // self._batch_size if drop_last else math.ceil(n / self._batch_size)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            # A restored position belongs to the checkpoint's epoch. Lightning may resume into the next one
            # (an epoch cut short by limit_train_batches counts as ended): that epoch starts at its first batch.
            self.start_batch = 0
        self.epoch = epoch

    def __len__(self) -> int:
        return self._len

    def indices(self) -> Tensor | None:
        """This rank's sample order for the current epoch; ``None`` means ``0..n-1`` in order."""
        rank, world = self.rank, self.world
        if not self.shuffle and world == 1:
            return None
        if self.shuffle:
            # Same seed source and generator use as DistributedSampler, so both give one permutation.
            seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
            g = torch.Generator()
            g.manual_seed(seed + self.epoch)
            # int32 gives the same permutation as int64 (checked in tests) at half the memory.
            dtype = torch.int32 if self.num_samples < 2**31 else torch.int64
            order = torch.randperm(self.num_samples, generator=g, dtype=dtype)
        else:
            order = torch.arange(self.num_samples)
        if world > 1 and self.pad:
            total = math.ceil(self.num_samples / world) * world
            extra = total - self.num_samples
            if extra:
                reps = math.ceil(extra / self.num_samples)
                order = torch.cat([order, order.repeat(reps)[:extra]])
        order = order[rank::world] if world > 1 else order
        return order.to(self.device) if self.device is not None else order

    def __iter__(self) -> Iterator[Index]:
        order, b, count = self.indices(), self._batch_size, len(self)
        start, self.start_batch = self.start_batch, 0
        for i in range(start, count):
            self.batches_done = i + 1  # the loader position a checkpoint records (no prefetch: sized loader)
            if order is None:
                yield slice(i * b, min((i + 1) * b, self.num_samples))
            else:
                yield order[i * b : (i + 1) * b]

    def state_dict(self) -> dict[str, Any]:
        shape = {"samples": self.num_samples, "batch_size": self._batch_size, "world": self.world}
        return {"epoch": self.epoch, "batches_done": self.batches_done, **shape}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume mid-epoch: the next pass skips the batches the checkpointed run already trained on."""
        self.epoch = int(state["epoch"])
        done = int(state.get("batches_done", 0))
        was = {k: state[k] for k in ("samples", "batch_size", "world") if k in state}
        now = {"samples": self.num_samples, "batch_size": self._batch_size, "world": self.world}
        if 0 < done < len(self) and any(now[k] != v for k, v in was.items()):  # "batch N" would mean other samples
            raise ValueError(
                f"ckpt_path: the checkpoint stopped within an epoch, after {done} batches of {was} (training "
                f"samples, batch size, processes), and this run has {now}; allowed: the same data.batch_size, "
                "data and trainer.devices to finish that epoch"
            )
        self.start_batch = done if 0 < done < len(self) else 0
