"""Seeded synthetic ``x_data``/``y_data``: N(0, 1) inputs through a fixed random teacher, plus noise."""

import torch
from torch import Tensor

from mlplab.data.base import TensorDataModule
from mlplab.rules import NonNegative, Positive, checked

# Rows generated at a time: bounds the temporaries (the teacher's hidden layer is 4x wider than x). At
# 1 << 18 rows (16 MB blocks) ~60 MB of them stayed resident after a 10M-sample setup (the allocator
# kept them); at 1 << 16, ~13 MB (``make bench``'s memory row).
CHUNK = 1 << 16


def teacher_weights(in_dim: int, out_dim: int, generator: torch.Generator, width: int = 16) -> list[Tensor]:
    """A fixed random one-hidden-layer tanh net: smooth, nonlinear, learnable by the tutorial's MLP."""
    w1 = torch.randn(in_dim, width, generator=generator) / in_dim**0.5
    b1 = torch.randn(width, generator=generator) * 0.1
    w2 = torch.randn(width, out_dim, generator=generator) / width**0.5
    return [w1, b1, w2]


class SyntheticDataModule(TensorDataModule):
    """Made offline from its own ``seed``; ``noise_variance`` is the lowest MSE any model can reach. With
    ``task=classification`` the label is the teacher's noisy argmax over ``out_dim`` classes."""

    @checked("data")
    def __init__(
        self,
        num_samples: Positive = 1000,
        in_dim: Positive = 4,
        out_dim: Positive = 4,
        noise_std: NonNegative = 0.1,
        seed: int = 42,
        **kwargs: object,
    ) -> None:
        if "split_seed" in kwargs:  # accepted by the base class, but nothing here to shuffle (split_order)
            raise ValueError(
                "data.split_seed: synthetic samples are i.i.d. draws, so consecutive ranges are already a random "
                "split; set data.seed for other data"
            )
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.num_samples, self.in_dim, self.out_dim = num_samples, in_dim, out_dim
        self.noise_std, self.seed = noise_std, seed

    @property
    def source(self) -> str:
        return f"data.num_samples={self.num_samples}"

    @property
    def noise_variance(self) -> float | None:
        return self.noise_std**2 if self.task == "regression" else None

    def load(self) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(self.seed)
        # Its own generator: the teacher function stays the same whatever num_samples is.
        w1, b1, w2 = teacher_weights(self.in_dim, self.out_dim, torch.Generator().manual_seed(self.seed + 1))
        x = torch.randn(self.num_samples, self.in_dim, generator=g)
        y = torch.empty(self.num_samples, self.out_dim)
        starts = list(range(0, self.num_samples, CHUNK))
        if len(starts) > 1 and (self.num_samples - starts[-1]) * self.out_dim < 16:
            # Fewer than 16 normals are drawn another way by torch: a last piece that small joins the one
            # before, so the draws (and the data) do not depend on where the chunks fall.
            starts.pop()
        for lo, hi in zip(starts, [*starts[1:], self.num_samples], strict=True):
            rows = slice(lo, hi)
            torch.matmul(torch.addmm(b1, x[rows], w1).tanh_(), w2, out=y[rows])
            y[rows].add_(torch.randn(y[rows].shape, generator=g), alpha=self.noise_std)
        if self.task == "classification":  # the teacher's noisy scores pick the class: out_dim classes
            self.classes = list(range(self.out_dim))
            return x, y.argmax(dim=1)
        return x, y

    def split_order(self, n: int) -> None:
        # Samples are i.i.d. draws, so consecutive ranges are as random a split as a permutation,
        # and views cost no copy of the data (what lets N=10M fit in ~1x its size).
        return None
