"""A DataLoader that checkpoints its position, so a run resumed mid-epoch sees exactly the batches it missed.

Lightning saves and restores the ``state_dict`` of train loaders that have one (``_Stateful``), right
before it creates the epoch's iterator; the position itself lives in :class:`BatchIndexSampler`.
"""

from typing import Any

from torch.utils.data import DataLoader

from mlplab.data.batching import BatchIndexSampler


class ResumableDataLoader(DataLoader):
    """``DataLoader(dataset, batch_size=None, sampler=BatchIndexSampler(...))`` with a saved position."""

    def state_dict(self) -> dict[str, Any]:
        sampler = self.sampler
        return sampler.state_dict() if isinstance(sampler, BatchIndexSampler) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.sampler, BatchIndexSampler) and state:
            self.sampler.load_state_dict(state)
