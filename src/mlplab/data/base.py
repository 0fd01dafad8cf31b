"""Shared split-and-serve logic; subclasses only say where ``x_data``/``y_data`` come from."""

import warnings
from abc import abstractmethod

import lightning as L
import torch
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import Tensor
from torch.utils.data import DataLoader

from mlplab.compat.lightning import uses_distributed_sampler
from mlplab.data.batching import BatchIndexSampler, TensorPairDataset, rank_and_world
from mlplab.data.resumable import ResumableDataLoader

# Batches are gathers from in-memory tensors: worker processes would only add IPC cost.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*", category=PossibleUserWarning)

STAGES = ("train", "val", "test")


class TensorDataModule(L.LightningDataModule):
    """Splits ``(x, y)`` into train/val/test with a seeded permutation and serves whole-tensor batches."""

    def __init__(
        self,
        batch_size: int | None = 32,
        eval_batch_size: int | None = None,
        train_fraction: float = 0.8,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        shuffle: bool = True,
        drop_last: bool = False,
        split_seed: int = 0,
        on_device: bool | str = "auto",
    ) -> None:
        super().__init__()
        if on_device not in (True, False, "auto"):
            raise ValueError(f"data.on_device={on_device!r}: allowed are true, false or auto")
        self.on_device = on_device
        fractions = (train_fraction, val_fraction, test_fraction)
        if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"data.train_fraction/val_fraction/test_fraction = {fractions} must be >= 0 and sum to 1")
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"data.{key}={value} must be a positive integer, or null for full batch")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size if eval_batch_size is not None else batch_size
        self.fractions = fractions
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.split_seed = split_seed
        self.splits: dict[str, TensorPairDataset] = {}

    @abstractmethod
    def load(self) -> tuple[Tensor, Tensor]:
        """All samples as float32 ``(x, y)`` of shapes ``(n, in_dim)`` and ``(n, out_dim)``."""

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self._make_splits()
        for split in {"fit": ("val",), "validate": ("val",), "test": ("test",)}.get(stage or "", ()):
            self._check_scorable(split)
        self._place_on_accelerator()

    def _make_splits(self) -> None:
        x, y = self.load()
        n = len(x)
        order = self.split_order(n)
        n_train = round(self.fractions[0] * n)
        n_val = round(self.fractions[1] * n)
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
        for name, (lo, hi) in bounds.items():
            if hi - lo == 0 and self.fractions[STAGES.index(name)] > 0:
                raise ValueError(f"the {name} split of {n} samples is empty; add samples or raise its fraction")
            if order is None:  # contiguous views: no copy of the data
                self.splits[name] = TensorPairDataset(x[lo:hi], y[lo:hi])
            else:
                idx = order[lo:hi].sort().values  # keep file order within a split
                self.splits[name] = TensorPairDataset(x[idx].contiguous(), y[idx].contiguous())

    def _place_on_accelerator(self) -> None:
        """Moves every split onto the GPU once, so steps gather batches there with no host-to-device copy.

        ``on_device=auto`` does so when the data takes at most half of the free device memory.
        """
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        if device.type != "cuda" or self.on_device is False:
            return
        nbytes = sum(t.numel() * t.element_size() for ds in self.splits.values() for t in (ds.x, ds.y))
        if self.on_device == "auto" and nbytes > torch.cuda.mem_get_info(device)[0] // 2:
            return
        for ds in self.splits.values():
            ds.to(device)

    def split_order(self, n: int) -> Tensor | None:
        """Which samples go to which split: a seeded permutation, or None for consecutive ranges."""
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed))

    def _loader(self, split: str, batch_size: int | None, train: bool) -> DataLoader:
        ds = self.splits[split]
        world = rank_and_world()[1]
        trainer = getattr(self, "trainer", None)
        if world > 1 and trainer is not None and uses_distributed_sampler(trainer):
            # Lightning would split each rank's share again: every epoch would train on 1/world of the data.
            raise ValueError(
                "trainer.use_distributed_sampler=true: mlplab's data modules give each process its share of every "
                "epoch themselves (as DistributedSampler would); set trainer.use_distributed_sampler=false"
            )
        if not train and len(ds) < world:  # Lightning stops a process with nothing to evaluate, the others hang
            raise ValueError(
                f"the {split} split has {len(ds)} sample{'s' * (len(ds) != 1)}, fewer than the {world} processes "
                "that share it; add samples (data.num_samples) or use fewer (trainer.devices)"
            )
        sampler = BatchIndexSampler(
            len(ds),
            batch_size,
            shuffle=train and self.shuffle,
            drop_last=train and self.drop_last,
            pad=train,
            device=ds.x.device,
        )
        # scripts/train.py checks a single process's split before the run; this also checks each rank's share.
        if train and len(sampler) == 0:
            raise ValueError(
                f"the train split has {len(ds)} samples, {sampler.shard_size()} per process over {world}, fewer than "
                f"one batch (data.batch_size={batch_size}) with data.drop_last=true, so no training step would run; "
                "lower data.batch_size, set data.drop_last=false or use fewer processes (trainer.devices)"
            )
        # The train loader saves its position in checkpoints: a mid-epoch resume skips what was trained on.
        loader_cls = ResumableDataLoader if train else DataLoader
        return loader_cls(ds, batch_size=None, sampler=sampler)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)

    def _check_scorable(self, split: str) -> None:
        if len(self.splits[split]) == 1:  # R² compares to the split's own mean: undefined for one sample
            raise ValueError(
                f"the {split} split has 1 sample, and {split}/r2 needs at least 2; add samples or raise "
                f"data.{split}_fraction"
            )

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)
