"""The bench's rows: how one case's timings become a row, the best of several runs, and the printed table."""

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mlplab.bench.rss import own_peak_rss_bytes

NAN = float("nan")  # the floor rows have no target


@dataclass
class Row:
    work: str
    hand_us_per_step: float
    project_us_per_step: float
    ratio: float
    target: float
    samples_per_s: float
    peak_rss_mb: float  # the bench process's peak during the case (both sides)


def best_of(rows: list[Row]) -> Row:
    """Each side's fastest of several runs of one case: this machine's noise only ever adds time."""
    hand = min(r.hand_us_per_step for r in rows)
    fastest = min(rows, key=lambda r: r.project_us_per_step)
    return Row(
        fastest.work,
        hand,
        fastest.project_us_per_step,
        fastest.project_us_per_step / hand,
        fastest.target,
        fastest.samples_per_s,
        max(r.peak_rss_mb for r in rows),
    )


def row(work: str, hand: float, project: float, steps: int, samples: int, target: float) -> Row:
    return Row(
        work,
        hand / steps * 1e6,
        project / steps * 1e6,
        project / hand,
        target,
        samples / project,
        own_peak_rss_bytes() / 2**20,  # since the case began (run.py resets the peak)
    )


def print_report(
    rows: list[Row], memory: dict[str, float], startup: list[dict[str, float | str]], output: Path, repeats: int
) -> None:
    title = "mlplab bench: project Trainer path vs. the hand-written loop (same data, same init)"
    table = Table(title=f"{title}, each side's best of {repeats}")
    for col in ("work", "hand µs/step", "project µs/step", "ratio", "target", "samples/s", "peak RSS MB"):
        table.add_column(col, justify="left" if col == "work" else "right")
    for r in rows:
        ok = "" if not r.ratio > r.target else " ✗"  # the floor row has no target (nan)
        table.add_row(
            r.work,
            f"{r.hand_us_per_step:.1f}",
            f"{r.project_us_per_step:.1f}",
            f"{r.ratio:.2f}x{ok}",
            f"≤ {r.target}x" if r.target == r.target else "-",
            f"{r.samples_per_s:,.0f}",
            f"{r.peak_rss_mb:.0f}",
        )
    console = Console(width=140, highlight=False)  # plain numbers, not rich's colouring of every digit
    console.print(table)
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
    console.print(f"JSON: {output}")
