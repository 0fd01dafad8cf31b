"""The bench's rows: how one case's timings become a row, the best of several runs, and the printed tables."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlplab.bench.rss import own_peak_rss_bytes

NAN = float("nan")  # a row without a target


@dataclass
class Row:
    """One case, its three sides timed in the same process: the tutorial's hand-written loop, Lightning's
    ``Trainer(barebones=True)`` over the plainest module (the floor), and this project's Trainer path."""

    work: str
    hand_us_per_step: float
    barebones_us_per_step: float
    project_us_per_step: float
    ratio: float  # project / barebones: what the targets bound
    target: float  # NaN: none
    project_vs_hand: float
    barebones_vs_hand: float
    samples_per_s: float  # the project's
    peak_rss_mb: float  # the bench process's peak during the case (all three sides)


def row(work: str, hand: float, barebones: float, project: float, steps: int, samples: int, target: float) -> Row:
    """``hand``, ``barebones``, ``project``: seconds for the same ``steps`` steps over ``samples`` samples."""
    return Row(
        work,
        hand / steps * 1e6,
        barebones / steps * 1e6,
        project / steps * 1e6,
        project / barebones,
        target,
        project / hand,
        barebones / hand,
        samples / project,
        own_peak_rss_bytes() / 2**20,  # since the case began (run.py resets the peak)
    )


def best_of(rows: list[Row]) -> Row:
    """Each side's fastest of several runs of one case: this machine's noise only ever adds time."""
    hand = min(r.hand_us_per_step for r in rows)
    bare = min(r.barebones_us_per_step for r in rows)
    fastest = min(rows, key=lambda r: r.project_us_per_step)
    project = fastest.project_us_per_step
    return Row(
        fastest.work,
        hand,
        bare,
        project,
        project / bare,
        fastest.target,
        project / hand,
        bare / hand,
        fastest.samples_per_s,
        max(r.peak_rss_mb for r in rows),
    )


def _verdict(ratio: float, target: float) -> str:
    if target != target:  # NaN: no target
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x {'✓' if ratio <= target else '✗'}"


def _table(title: str, rows: list[Row], with_target: bool) -> Table:
    table = Table(title=title)
    columns = ["work", "hand µs/step", "barebones µs/step", "project µs/step", "project/barebones"]
    columns += ["target"] if with_target else []
    columns += ["project/hand", "barebones/hand", "samples/s", "peak RSS MB"]
    for col in columns:
        table.add_column(col, justify="left" if col == "work" else "right", no_wrap=col == "work")
    for r in rows:
        cells = [
            r.work,
            f"{r.hand_us_per_step:.1f}",
            f"{r.barebones_us_per_step:.1f}",
            f"{r.project_us_per_step:.1f}",
            _verdict(r.ratio, r.target),
        ]
        if with_target:
            cells.append(f"≤ {r.target}x" if r.target == r.target else "-")
        cells += [
            f"{r.project_vs_hand:.2f}x",
            f"{r.barebones_vs_hand:.2f}x",
            f"{r.samples_per_s:,.0f}",
            f"{r.peak_rss_mb:.0f}",
        ]
        table.add_row(*cells)
    return table


def print_report(
    rows: list[Row],
    scaling: list[Row],
    memory: dict[str, float],
    startup: list[dict[str, Any]],
    process: dict[str, Any],
    output: Path,
    repeats: int,
) -> None:
    console = Console(width=200, highlight=False)  # plain numbers, not rich's colouring of every digit
    console.print(
        _table(f"mlplab bench: the project against Lightning's floor, each side's best of {repeats}", rows, True)
    )
    console.print(
        _table("scaling: one epoch + validation, by the net's hidden width and the batch size", scaling, False)
    )
    console.print(
        f"memory: N={memory['big_n']:,} peak {memory['big_peak_mb']:.0f} MB vs N={memory['small_n']:,} peak "
        f"{memory['small_peak_mb']:.0f} MB: extra = {memory['ratio']:.2f} x the {memory['data_mb']:.0f} MB of "
        f"data tensors (target ≤ {memory['target']}x)"
    )
    for case in startup:
        console.print(
            f"start-up: scripts/train.py {case['command']} {case['project_s']:.2f} s vs a bare Hydra app over conf/ "
            f"{case['bare_s']:.2f} s = {case['ratio']:.2f}x (target ≤ {case['target']}x)"
        )
    console.print(
        f"whole process: {process['command']} {process['project_s']:.2f} s vs the seed's code as a script "
        f"{process['seed_s']:.2f} s = {_verdict(process['ratio'], process['target'])} "
        f"(median of {process['repeats']}, target ≤ {process['target']}x)"
    )
    console.print(f"JSON: {output}")
