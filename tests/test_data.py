"""The data modules: reproducible synthetic data, the user's files, and batches as the plain path gives them."""

import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import Tensor
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    Sampler,
    SequentialSampler,
    TensorDataset,
)

from conftest import assert_names, whole
from mlplab.data.base import TensorDataModule
from mlplab.data.batching import BatchIndexSampler, TensorPairDataset
from mlplab.data.file import FileDataModule
from mlplab.data.synthetic import SyntheticDataModule


def test_synthetic_data_is_reproducible_from_its_own_seed() -> None:
    a, b, c = (SyntheticDataModule(num_samples=50, seed=s).load() for s in (3, 3, 4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("n", [1001, 1002, 1005])  # a last chunk of 1, 2 or 5 rows (4 to 20 normals)
def test_synthetic_data_does_not_depend_on_how_it_is_chunked(monkeypatch, n: int) -> None:
    whole = SyntheticDataModule(num_samples=n).load()
    monkeypatch.setattr("mlplab.data.synthetic.CHUNK", 8)
    chunked = SyntheticDataModule(num_samples=n).load()
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])


def test_synthetic_noise_floor_is_the_noise_variance() -> None:
    noisy = SyntheticDataModule(num_samples=20000, noise_std=0.3, seed=0)
    clean = SyntheticDataModule(num_samples=20000, noise_std=0.0, seed=0)
    (x, y), (x0, y0) = noisy.load(), clean.load()
    assert torch.equal(x, x0)  # same inputs, same teacher: only the noise differs
    assert noisy.noise_variance == pytest.approx(0.09)
    # The teacher itself is the best predictor: its MSE is the noise variance.
    assert torch.mean((y - y0) ** 2).item() == pytest.approx(0.09, rel=0.05)
    assert x.mean().abs() < 0.05 and (x.std() - 1).abs() < 0.05  # N(0, 1) inputs


def test_splits_follow_the_fractions_and_do_not_overlap() -> None:
    dm = SyntheticDataModule(num_samples=100, train_fraction=0.6, val_fraction=0.3, test_fraction=0.1)
    dm.setup("fit")
    sizes = {k: len(v) for k, v in dm.splits.items()}
    assert sizes == {"train": 60, "val": 30, "test": 10}
    rows = torch.cat([dm.splits[k].x for k in ("train", "val", "test")])
    assert len(torch.unique(rows, dim=0)) == 100


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz", ".pt"])
def test_file_formats_load_the_same_table(tmp_path: Path, suffix: str) -> None:
    table = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        path.write_text("a,b,c,d,e,f,g,h\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in table))
    elif suffix == ".npy":
        np.save(path, table)
    elif suffix == ".npz":
        np.savez(path, x=table[:, :4], y=table[:, 4:])
    else:
        torch.save({"x": torch.from_numpy(table[:, :4]), "y": torch.from_numpy(table[:, 4:])}, path)
    # A single table's targets by index; .npz/.pt keep them apart (x, y) and need no columns.
    x, y = FileDataModule(path=str(path), target_columns=[4, 5, 6, 7]).load()
    assert x.dtype == torch.float32 and torch.allclose(x, torch.from_numpy(table[:, :4]))
    assert torch.allclose(y, torch.from_numpy(table[:, 4:]))


def test_csv_columns_by_name(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("t,u,v,w\n1,2,3,4\n5,6,7,8\n")
    dm = FileDataModule(path=str(path), in_dim=2, out_dim=1, feature_columns=["w", "u"], target_columns=["t"])
    x, y = dm.load()
    assert x.tolist() == [[4, 2], [8, 6]] and y.tolist() == [[1], [5]]


def plain_batches(n: int, b: int, shuffle: bool, drop_last: bool, rank: int, world: int, epoch: int, seed: int):
    """What Lightning's plain path yields: DistributedSampler (or sequential) + BatchSampler + collate."""
    ds = TensorDataset(torch.arange(n))
    sampler: Sampler[int] = SequentialSampler(ds)
    if world > 1 or shuffle:
        distributed: DistributedSampler[int] = DistributedSampler(
            ds, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed
        )
        distributed.set_epoch(epoch)
        sampler = distributed
    return [list(batch) for batch in BatchSampler(sampler, b, drop_last)]


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "b", "drop_last"), [(10, 3, False), (10, 3, True), (12, 4, False), (7, 100, False)])
def test_fast_batches_equal_the_plain_paths(monkeypatch, world, shuffle, n, b, drop_last) -> None:
    ids = torch.arange(n)
    dataset = TensorPairDataset(ids[:, None], ids[:, None])
    for rank in range(world):
        monkeypatch.setattr("mlplab.data.batching.rank_and_world", lambda rank=rank: (rank, world))
        for epoch in (0, 1):
            sampler = BatchIndexSampler(n, b, shuffle=shuffle, drop_last=drop_last, seed=7)
            sampler.set_epoch(epoch)
            fast = [dataset[idx][0].flatten().tolist() for idx in sampler]
            assert fast == plain_batches(n, b, shuffle, drop_last, rank, world, epoch, seed=7)
            assert len(sampler) == len(fast)


def test_ranks_share_an_epoch_disjointly_and_eval_counts_each_sample_once(monkeypatch) -> None:
    n, world = 11, 2
    seen: list[int] = []
    for rank in range(world):
        monkeypatch.setattr("mlplab.data.batching.rank_and_world", lambda rank=rank: (rank, world))
        sampler = BatchIndexSampler(n, 4, shuffle=False, pad=False)
        seen += [i for idx in sampler for i in idx.tolist()]
    assert sorted(seen) == list(range(n))
    assert math.ceil(n / world) == 6


def test_an_eval_split_smaller_than_the_world_is_one_clear_error(monkeypatch) -> None:
    """Under DDP a process with no sample to evaluate stops alone and the others wait on it: refused first."""
    monkeypatch.setattr("mlplab.data.base.rank_and_world", lambda: (0, 3))
    datamodule = SyntheticDataModule(num_samples=20)  # val and test splits of 2 samples each
    datamodule.setup("fit")
    assert len(datamodule.train_dataloader()) > 0  # training pads the shards: every rank gets batches
    with pytest.raises(ValueError) as too_few:
        datamodule.val_dataloader()
    assert_names(str(too_few.value), "val", "2 samples", whole("3"))  # the split, its size, the processes


def test_a_ranks_share_smaller_than_a_dropped_batch_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr("mlplab.data.base.rank_and_world", lambda: (0, 2))
    monkeypatch.setattr("mlplab.data.batching.rank_and_world", lambda: (0, 2))
    datamodule = SyntheticDataModule(num_samples=125, batch_size=64, drop_last=True)  # 100 train samples
    datamodule.setup("fit")
    with pytest.raises(ValueError) as refused:
        datamodule.train_dataloader()
    assert_names(str(refused.value), "100 samples", "50 per process", "trainer.devices=2", "data.batch_size=64")


@pytest.mark.parametrize("use_distributed_sampler", [False, True])
def test_lightning_splitting_the_shares_again_is_refused(monkeypatch, use_distributed_sampler: bool) -> None:
    """Lightning's own sampler (its default) over these loaders would give each rank 1/world of its share."""
    monkeypatch.setattr("mlplab.data.base.rank_and_world", lambda: (0, 2))
    datamodule = SyntheticDataModule(num_samples=100)
    datamodule.setup("fit")
    datamodule.trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, use_distributed_sampler=use_distributed_sampler
    )
    if use_distributed_sampler:
        with pytest.raises(ValueError) as resplit:
            datamodule.train_dataloader()
        assert_names(str(resplit.value), "trainer.use_distributed_sampler=false")  # what to set instead
    else:
        assert len(datamodule.train_dataloader()) > 0


class SampleIds(TensorDataModule):
    """Rows 0..39 of training data whose features are their own index: a batch names its samples."""

    def __init__(self, plain: bool = False) -> None:
        super().__init__(batch_size=8, train_fraction=0.8, val_fraction=0.2, test_fraction=0.0)
        self.plain = plain

    def load(self) -> tuple[Tensor, Tensor]:
        x = torch.arange(50.0)[:, None].repeat(1, 4)
        return x, x.clone()

    def split_order(self, n: int) -> None:
        return None

    def train_dataloader(self) -> DataLoader:
        if not self.plain:
            return super().train_dataloader()
        ds = TensorDataset(self.splits["train"].x, self.splits["train"].y)
        return DataLoader(ds, batch_size=8, sampler=DistributedSampler(ds, num_replicas=1, rank=0, seed=0))


class RecordsBatches(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)
        self.seen: list[list[int]] = []

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        self.seen.append(batch[0][:, 0].long().tolist())
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


# Lightning's notes on this bare Trainer: no validation_step for the data module's val loader, a resume into
# another root dir, and its own use of torch's deprecated LeafSpec. None is about what is tested.
@pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`")
@pytest.mark.filterwarnings("ignore:The dirpath has changed")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_a_resume_into_the_next_epoch_starts_it_at_its_first_batch(tmp_path: Path) -> None:
    """A step-limited run (max_steps) whose epochs are cut short by limit_train_batches ends each epoch with
    its loader mid-pass; Lightning resumes such a checkpoint into the next epoch, which must get the batches
    the plain path (DataLoader + DistributedSampler) gets there, not skip the cut epoch's batch count."""

    def fit(max_epochs: int, root: Path, ckpt_path: Path | None = None, plain: bool = False) -> list[list[int]]:
        L.seed_everything(0, verbose=False)
        model = RecordsBatches()
        trainer = L.Trainer(
            max_epochs=max_epochs,
            max_steps=1000,
            limit_train_batches=3,  # of 5
            limit_val_batches=0,
            default_root_dir=root,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
        )
        trainer.fit(model, SampleIds(plain), ckpt_path=ckpt_path)
        return model.seen

    first, resumed = {}, {}
    for plain in (False, True):
        first[plain] = fit(1, tmp_path / f"plain={plain}", plain=plain)
        (checkpoint,) = (tmp_path / f"plain={plain}" / "checkpoints").glob("*.ckpt")
        resumed[plain] = fit(3, tmp_path / f"resumed-plain={plain}", checkpoint, plain)
    assert first[False] == first[True] and resumed[False] == resumed[True]
    assert resumed[False][0] not in first[False]  # the next epoch's order, from its first batch


def test_int32_permutation_is_the_int64_one() -> None:
    # BatchIndexSampler draws int32 permutations to halve their memory; DistributedSampler uses int64.
    a = torch.randperm(100_003, generator=torch.Generator().manual_seed(5))
    b = torch.randperm(100_003, generator=torch.Generator().manual_seed(5), dtype=torch.int32)
    assert torch.equal(a, b.long())


def test_full_batch_and_shuffling_under_a_seed() -> None:
    full = list(BatchIndexSampler(10, None, shuffle=False))
    assert len(full) == 1 and full[0] == slice(0, 10)
    first = [idx.tolist() for idx in BatchIndexSampler(10, 4, shuffle=True, seed=1)]
    again = [idx.tolist() for idx in BatchIndexSampler(10, 4, shuffle=True, seed=1)]
    other = [idx.tolist() for idx in BatchIndexSampler(10, 4, shuffle=True, seed=2)]
    assert first == again != other
    assert sorted(i for batch in first for i in batch) == list(range(10))


def test_the_data_modules_loaders_give_torchs_batches_without_its_iterator() -> None:
    """Each pass yields what torch's loader iterator would, without its set-up per pass: the global RNG is
    left alone (torch's draws a base seed from it every epoch)."""
    dm = SyntheticDataModule(num_samples=40, batch_size=8, shuffle=True)
    dm.setup("fit")
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        torch.manual_seed(0)
        ours = [torch.cat(batch, 1) for batch in loader]
        after_ours = torch.rand(1)
        torch.manual_seed(0)
        torchs = [torch.cat(batch, 1) for batch in DataLoader.__iter__(loader)]
        assert len(ours) == len(torchs) == len(loader)
        assert all(torch.equal(a, b) for a, b in zip(ours, torchs, strict=True))
        torch.manual_seed(0)
        assert torch.equal(torch.rand(1), after_ours)


def test_synthetic_data_refuses_a_split_seed_it_would_ignore() -> None:
    with pytest.raises(ValueError) as ignored:
        SyntheticDataModule(split_seed=7)
    assert_names(str(ignored.value), "data.split_seed")
