"""Standardization with the training split's statistics, as module buffers saved in every checkpoint."""

import torch
from torch import Tensor, nn


class Standardize(nn.Module):
    """``(x - mean) / std`` and back; a constant column keeps std 1 (no division by zero)."""

    mean: Tensor
    std: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, rows: Tensor) -> None:
        """Statistics of ``rows`` (the training split, float): the same on every rank, which all hold it."""
        self.mean.copy_(rows.mean(dim=0))
        std = rows.std(dim=0, unbiased=False) if len(rows) > 1 else torch.zeros_like(self.std)
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: Tensor) -> Tensor:
        return z * self.std + self.mean


def in_raw_units(net: nn.Module, x_scale: Standardize | None, y_scale: Standardize | None, x: Tensor) -> Tensor:
    z = net(x_scale(x) if x_scale is not None else x)
    return y_scale.inverse(z) if y_scale is not None else z


class RawUnits(nn.Module):
    """The net between the scalers: raw inputs in, raw outputs (or logits) out. What predict and export run."""

    def __init__(self, net: nn.Module, x_scale: Standardize | None, y_scale: Standardize | None) -> None:
        super().__init__()
        self.net, self.x_scale, self.y_scale = net, x_scale, y_scale

    def forward(self, x: Tensor) -> Tensor:
        return in_raw_units(self.net, self.x_scale, self.y_scale, x)
