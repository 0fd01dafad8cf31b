"""Shared split-and-serve logic (the split rules are in :mod:`mlplab.data.splits`); subclasses only say where
``x_data``/``y_data`` come from."""

import warnings
from abc import abstractmethod
from typing import Annotated, Literal

import lightning as L
import torch
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import Tensor
from torch.utils.data import DataLoader

from mlplab.compat.lightning import uses_distributed_sampler
from mlplab.data.batching import BatchIndexSampler, TensorPairDataset, rank_and_world
from mlplab.data.resumable import GatheringDataLoader, ResumableDataLoader
from mlplab.data.splits import check_one_batch, check_split_sizes, resolve_fractions, split_groups, split_sizes
from mlplab.rules import Fraction, checked, rule

# Batches are gathers from in-memory tensors: worker processes would only add IPC cost.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*", category=PossibleUserWarning)

Batch = Annotated[int, rule("a positive integer, or null for full batch", lambda v: v >= 1)]
EvalBatch = Annotated[int, rule("a positive integer, or null for data.batch_size", lambda v: v >= 1)]


class TensorDataModule(L.LightningDataModule):
    """Splits ``(x, y)`` into train/val/test with a seeded permutation and serves whole-tensor batches."""

    @checked("data")
    def __init__(
        self,
        batch_size: Batch | None = 32,
        eval_batch_size: EvalBatch | None = None,
        train_fraction: Annotated[float, rule("a number above 0, up to 1", lambda v: 0 < v <= 1)] | None = None,
        val_fraction: Fraction | None = None,
        test_fraction: Fraction | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        split_seed: int = 0,
        on_device: bool | Literal["auto"] = "auto",
        task: Literal["regression", "classification"] = "regression",
        standardize: bool = False,
    ) -> None:
        super().__init__()
        fractions = resolve_fractions(train_fraction, val_fraction, test_fraction)
        self.task = task
        self.standardize = standardize  # the model standardizes (its buffers); recorded here for the config
        self.classes: list[int | str] | None = None  # the labels, in class-index order (classification)
        self.on_device = on_device
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size if eval_batch_size is not None else batch_size
        self.fractions = fractions
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.split_seed = split_seed
        self.splits: dict[str, TensorPairDataset] = {}

    @abstractmethod
    def load(self) -> tuple[Tensor, Tensor]:
        """All samples as float32 ``(x, y)`` of shapes ``(n, in_dim)`` and ``(n, out_dim)``; for classification,
        ``y`` is int64 class indices of shape ``(n,)`` and ``self.classes`` holds their labels."""

    @property
    def sizes(self) -> dict[str, object]:
        """What the model needs to know of the data, read once it is loaded: the net's sizes (and labels)."""
        x, y = self.splits["train"].x, self.splits["train"].y
        if self.task == "classification":
            return {"in_dim": x.shape[1], "out_dim": len(self.classes or []), "classes": self.classes}
        return {"in_dim": x.shape[1], "out_dim": y.shape[1]}

    def training_rows(self) -> tuple[Tensor, Tensor]:
        """The training split, whose statistics standardize inputs and targets."""
        return self.splits["train"].x, self.splits["train"].y

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self._make_splits()
        self._place_on_accelerator()

    @property
    def source(self) -> str:
        """The setting that decides how many samples there are, for error lines."""
        return "the data"

    def _make_splits(self) -> None:
        x, y = self.load()
        n = len(x)
        order = self.split_order(n)
        if order is None:  # contiguous views: no copy of the data
            sizes = split_sizes(n, self.fractions)
            check_split_sizes(self.source, sizes, self.fractions)
            bounds = {
                "train": (0, sizes["train"]),
                "val": (sizes["train"], n - sizes["test"]),
                "test": (n - sizes["test"], n),
            }
            for name, (lo, hi) in bounds.items():
                self.splits[name] = TensorPairDataset(x[lo:hi], y[lo:hi])
        else:
            groups = [order[y[order] == c] for c in y.unique()] if self.task == "classification" else [order]
            parts = split_groups(groups, self.fractions)  # stratified: each class split in the same proportions
            check_split_sizes(self.source, {s: len(i) for s, i in parts.items()}, self.fractions)
            for name, idx in parts.items():
                idx = idx.sort().values  # keep file order within a split
                self.splits[name] = TensorPairDataset(x[idx].contiguous(), y[idx].contiguous())
        # Also per process when the loader is made; here already, so a file too small is refused at setup.
        check_one_batch(self.source, len(self.splits["train"]), self.batch_size, self.drop_last)

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
        if train:  # each rank's share, not only the whole split
            check_one_batch(self.source, len(ds), batch_size, self.drop_last, world)
        # The train loader saves its position in checkpoints: a mid-epoch resume skips what was trained on.
        loader_cls = ResumableDataLoader if train else GatheringDataLoader
        return loader_cls(ds, batch_size=None, sampler=sampler)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)
