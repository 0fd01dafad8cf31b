"""Scalar curves of a run, read back from its TensorBoard event files with TensorBoard's own reader."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator


@dataclass
class Curve:
    """``(x, value)`` points of one scalar; ``x`` is the 1-based epoch when the run logged ``epoch``, else the step."""

    x: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class RunCurves:
    run: Path
    curves: dict[str, Curve]
    x_label: str


def event_dirs(run: Path) -> list[Path]:
    """Folders below ``run`` that hold event files (a reader takes one folder at a time)."""
    return sorted({p.parent for p in run.rglob("events.out.tfevents.*")})


def _load(folder: Path) -> EventAccumulator:
    # The reader logs every event file it moves through at INFO: noise in a report's output.
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    # size_guidance 0 = keep every point (the default samples long runs down to 1000).
    acc = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
    acc.Reload()
    return acc


def read_curves(run: Path, tags: list[str], steps_per_epoch: float | None = None) -> RunCurves:
    """The ``tags`` scalars of ``run`` (missing ones are empty), merged over all its event folders.

    Drawn over epochs, so runs with different batch sizes line up: with ``steps_per_epoch`` a point
    logged after ``step + 1`` optimizer steps sits at ``(step + 1) / steps_per_epoch`` (train/loss is
    logged within epochs); else at the 1-based epoch Lightning logged with it; else over steps.
    """
    points: dict[str, dict[int, float]] = {tag: {} for tag in tags}
    epoch_at_step: dict[int, float] = {}
    for folder in event_dirs(run):
        acc = _load(folder)
        available = set(acc.Tags()[SCALARS])
        if "epoch" in available:
            # The first value at a step: at a fit's last step Lightning logs epoch e, then e + 1 for the test.
            for event in acc.Scalars("epoch"):
                epoch_at_step.setdefault(event.step, event.value)
        for tag in tags:
            if tag in available:
                points[tag].update((event.step, event.value) for event in acc.Scalars(tag))
    by_epoch = bool(epoch_at_step) and all(
        step in epoch_at_step for tag_points in points.values() for step in tag_points
    )
    curves = {}
    for tag, by_step in points.items():
        steps = sorted(by_step)
        if steps_per_epoch:
            x = [(s + 1) / steps_per_epoch for s in steps]
        else:
            x = [epoch_at_step[s] + 1 if by_epoch else float(s) for s in steps]
        curves[tag] = Curve(x, [by_step[s] for s in steps])
    return RunCurves(run, curves, "epoch" if steps_per_epoch or by_epoch else "step")
