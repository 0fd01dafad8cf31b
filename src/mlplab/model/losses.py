"""Loss functions selectable by name from ``model.loss``."""

from torch import nn

LOSSES: dict[str, type[nn.Module]] = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": nn.HuberLoss,
}


def build_loss(name: str) -> nn.Module:
    """The loss module called ``name``; a clear error lists the allowed names."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(f"model.loss={name!r} is not a known loss; allowed: {', '.join(LOSSES)}") from None
