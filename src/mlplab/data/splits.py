"""How samples are split into train/val/test, and the sizes each split must have: one home for these rules,
used by the data modules at setup and by the config check before a run (:mod:`mlplab.config.schema`)."""

import math

import torch
from torch import Tensor

from mlplab.errors import UserError

STAGES = ("train", "val", "test")

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
Fractions = tuple[float, float, float]


def resolve_fractions(train: float | None, val: float | None, test: float | None) -> Fractions:
    """Fractions left null share what the others leave, in the default 80/10/10 proportions: give any two
    and the third is the rest."""
    given = (train, val, test)
    left = 1.0 - sum(f for f in given if f is not None)
    weight = sum(d for f, d in zip(given, DEFAULT_FRACTIONS, strict=True) if f is None)
    train, val, test = (
        f if f is not None else max(left, 0.0) * d / weight for f, d in zip(given, DEFAULT_FRACTIONS, strict=True)
    )
    check_fractions((train, val, test))
    return train, val, test


def check_fractions(fractions: Fractions) -> None:
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise UserError(
            f"data.train_fraction/val_fraction/test_fraction={list(fractions)}: sum to {sum(fractions):g}; "
            "allowed: fractions that sum to 1"
        )


def split_sizes(n: int, fractions: Fractions, at_least: int = 2) -> dict[str, int]:
    """Samples per split. A val or test split asked for gets ``at_least`` samples (R² needs two) where rounding
    gives it fewer, taken from train while train keeps as many: 16 rows split 12/2/2, not 13/2/1."""
    sizes = {"train": round(fractions[0] * n), "val": round(fractions[1] * n)}
    sizes["test"] = n - sizes["train"] - sizes["val"]
    for split, fraction in zip(("val", "test"), fractions[1:], strict=True):
        short = at_least - sizes[split]
        if fraction > 0 and short > 0 and sizes["train"] - short >= at_least:
            sizes[split] += short
            sizes["train"] -= short
    return sizes


def split_groups(groups: list[Tensor], fractions: Fractions) -> dict[str, Tensor]:
    """Each group (all samples, or one class) split by ``fractions``, in the group's own (seeded) order."""
    parts: dict[str, list[Tensor]] = {s: [] for s in STAGES}
    for group in groups:
        # Classes: each in proportion; their sum gives val and test their samples.
        sizes = split_sizes(len(group), fractions, at_least=2 if len(groups) == 1 else 0)
        parts["train"].append(group[: sizes["train"]])
        parts["val"].append(group[sizes["train"] : len(group) - sizes["test"]])
        parts["test"].append(group[len(group) - sizes["test"] :])
    return {s: torch.cat(p) for s, p in parts.items()}


def check_split_sizes(source: str, sizes: dict[str, int], fractions: tuple[float, float, float]) -> None:
    """Every split asked for gets samples, and val/test at least 2 (R² compares to the split's own mean).
    ``source`` names what sets the sizes: ``data.num_samples=N`` or ``data.path=FILE``."""
    for split, size in sizes.items():
        fraction = fractions[STAGES.index(split)]
        if fraction > 0 and size == 0:
            raise UserError(
                f"{source}: the {split} split would be empty; allowed: more samples, or a larger data.{split}_fraction"
            )
        if split != "train" and size == 1:
            raise UserError(
                f"{source}: the {split} split would have 1 sample, and {split}/r2 needs at least 2; "
                f"allowed: more samples, or a larger data.{split}_fraction"
            )


def check_one_batch(source: str, samples: int, batch_size: int | None, drop_last: bool, world: int = 1) -> None:
    """With ``drop_last``, a train split smaller than one batch (per process) would run no step at all."""
    share = math.ceil(samples / world)
    if drop_last and batch_size is not None and share < batch_size:
        per = f", {share} per process over trainer.devices={world}" if world > 1 else ""
        raise UserError(
            f"{source}: the train split has {samples} samples{per}, fewer than data.batch_size={batch_size}, and "
            "data.drop_last=true drops the partial batch, so no step would run; allowed: a smaller "
            "data.batch_size, or data.drop_last=false"
        )
