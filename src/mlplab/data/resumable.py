"""DataLoaders over :class:`BatchIndexSampler`: batches gathered in this process, and a checkpointed position.

Lightning saves and restores the ``state_dict`` of train loaders that have one (``_Stateful``), right
before it creates the epoch's iterator; the position itself lives in :class:`BatchIndexSampler`.
"""

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader

from mlplab.data.batching import BatchIndexSampler


class GatheringDataLoader(DataLoader):
    """``DataLoader(dataset, batch_size=None, sampler=BatchIndexSampler(...))`` that iterates without torch's
    loader iterator: each item is already a whole batch, so the iterator would only add its set-up per pass
    (~30 µs, and a seed drawn from the global RNG) to every epoch of a full-batch run (``make bench``)."""

    # A plain iterator, not a _BaseDataLoaderIter: Lightning only iterates it.
    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        if self.num_workers or not isinstance(self.sampler, BatchIndexSampler) or self.pin_memory:
            return super().__iter__()
        return map(self.dataset.__getitem__, self.sampler)


class ResumableDataLoader(GatheringDataLoader):
    """The train loader: Lightning checkpoints its position, so a run resumed mid-epoch sees exactly the
    batches it missed."""

    def state_dict(self) -> dict[str, Any]:
        sampler = self.sampler
        return sampler.state_dict() if isinstance(sampler, BatchIndexSampler) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.sampler, BatchIndexSampler) and state:
            self.sampler.load_state_dict(state)
