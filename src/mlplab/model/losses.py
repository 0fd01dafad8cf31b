"""Loss functions selectable by name from ``model.loss``."""

from typing import Literal

from torch import nn

LossName = Literal["mse", "l1", "huber"]

LOSSES: dict[LossName, type[nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": nn.HuberLoss,
}


def build_loss(name: LossName) -> nn.Module:
    """The loss module called ``name``; a clear error lists the allowed names."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(f"model.loss={name!r} is not a known loss; allowed: {', '.join(LOSSES)}") from None
