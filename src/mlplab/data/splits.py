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
    """Each group (all samples, or one class) cut into train, val and test, in the group's own (seeded) order.

    The split sizes are those of all samples together (:func:`split_sizes`); each class then gives val and test
    its share of them, by largest remainders, as sklearn's stratified splits do. Rounding each class on its own
    would leave val or test empty on a small table with several classes (20 rows of 3 classes: no test row)."""
    sizes = [len(g) for g in groups]
    total = split_sizes(sum(sizes), fractions)
    # A class keeps a training row where the totals allow it.
    room = [max(n - 1, 0) for n in sizes]
    if sum(room) < total["val"] + total["test"]:
        room = sizes
    held = _apportion(total["val"] + total["test"], sizes, room)
    val = _apportion(total["val"], sizes, held)
    parts: dict[str, list[Tensor]] = {s: [] for s in STAGES}
    for group, h, v in zip(groups, held, val, strict=True):
        train = len(group) - h
        parts["train"].append(group[:train])
        parts["val"].append(group[train : train + v])
        parts["test"].append(group[train + v :])
    return {s: torch.cat(p) for s, p in parts.items()}


def _apportion(total: int, weights: list[int], room: list[int]) -> list[int]:
    """``total`` shared in proportion to ``weights``, each share at most its ``room``: the whole parts first,
    then one more each to the largest remainders (ties: the earlier group)."""
    exact = [total * w / max(sum(weights), 1) for w in weights]
    shares = [min(math.floor(e), r) for e, r in zip(exact, room, strict=True)]
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - exact[i], i))
    while (left := total - sum(shares)) > 0 and any(s < r for s, r in zip(shares, room, strict=True)):
        for i in [i for i in by_remainder if shares[i] < room[i]][:left]:
            shares[i] += 1
    return shares


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
