"""The report: train/val loss curves of one or many runs as a PNG, and the table of those runs."""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlplab.errors import UserError
from mlplab.extras import require
from mlplab.tasks.compare import find_runs, load_run, table_of_runs, to_markdown
from mlplab.tasks.curves import RunCurves, read_curves

if TYPE_CHECKING:  # matplotlib is the report extra's: imported once report() has checked it is there
    from matplotlib.axes import Axes

# The best MSE any model can reach on the synthetic data (its noise variance), logged by the model.
NOISE_FLOOR = "val/noise_floor"


def _labels(run_dirs: Sequence[Path], root: Path) -> dict[Path, str]:
    """``run: the overrides that differ between runs``, e.g. ``3: optimizer.lr=0.01 model.hidden_dim=32``."""
    runs = [load_run(p) for p in run_dirs]
    differing = [
        k for k in dict.fromkeys(k for r in runs for k in r.overrides) if len({r.overrides.get(k) for r in runs}) > 1
    ]
    labels = {}
    for run in runs:
        name = str(run.path.relative_to(root)) if run.path != root else run.path.name
        changed = " ".join(f"{k}={run.overrides[k]}" for k in differing if k in run.overrides)
        labels[run.path] = f"{name}: {changed}" if changed else name
    return labels


def _steps_per_epoch(run: Path) -> float | None:
    """From the run's final ``global_step`` and ``epoch`` (metrics.json); None without them."""
    metrics = load_run(run).metrics
    steps, epochs = metrics.get("global_step"), metrics.get("epoch")
    return steps / epochs if steps and epochs else None


def _noise_floor(runs: Sequence[RunCurves]) -> float | None:
    values = {c.curves[NOISE_FLOOR].values[-1] for c in runs if c.curves[NOISE_FLOOR].values}
    if len(values) > 1:
        # Runs on different data: one floor line would mislead, so none is drawn.
        return None
    return values.pop() if values else None


def _draw(
    ax: "Axes", runs: Sequence[RunCurves], tag: str, labels: dict[Path, str], floor: float | None, log_y: bool
) -> None:
    for i, run in enumerate(runs):
        curve = run.curves[tag]
        finite = [(x, v) for x, v in zip(curve.x, curve.values, strict=True) if math.isfinite(v)]
        if finite:
            xs, vs = zip(*finite, strict=True)
            ax.plot(xs, vs, color=f"C{i % 10}", marker="." if len(xs) < 30 else None, label=labels[run.run])
    if floor is not None:
        ax.axhline(floor, color="black", linestyle="--", linewidth=1, label=f"noise floor ({floor:.4g})")
    ax.set_title(tag)
    ax.set_ylabel("log scale" if log_y else "")
    ax.set_xlabel(runs[0].x_label if runs else "epoch")
    ax.grid(True, alpha=0.3)
    if log_y and ax.has_data():
        ax.set_yscale("log")


def plot_curves(
    runs: Sequence[RunCurves], labels: dict[Path, str], tags: Sequence[str], output: Path, log_y: bool = True
) -> None:
    """One panel per tag, one line per run; the noise floor as a dashed line on every loss panel."""
    from matplotlib.figure import Figure

    floor = _noise_floor(runs)
    rows_of_legend = math.ceil((len(runs) + 1) / 3)
    fig = Figure(figsize=(6 * len(tags), 4.5 + 0.25 * rows_of_legend), layout="constrained")
    axes = fig.subplots(1, len(tags), squeeze=False, sharex=True)[0]
    for ax, tag in zip(axes, tags, strict=True):
        _draw(ax, runs, tag, labels, floor if tag.endswith("loss") else None, log_y)
    handles, names = axes[-1].get_legend_handles_labels()
    # Below the panels, so no line is hidden under it however many runs there are.
    fig.legend(handles, names, loc="outside lower center", fontsize="small", ncol=min(3, len(names)))
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)


def report(
    runs: str | Path,
    output: str | Path = "curves.png",
    tags: Sequence[str] = ("train/loss", "val/loss"),
    metrics: Sequence[str] | None = None,
    sort_by: str | None = "val/loss",
    log_y: bool = True,
) -> Path:
    """Writes the curves PNG of every run under ``runs`` and prints their comparison table."""
    require("report", "scripts/report.py")
    root = Path(runs)
    out = Path(output)
    if out.suffix.lower() != ".png":
        raise UserError(f"output={output}: the report is a PNG image, give a path ending in .png")
    run_dirs = find_runs(root)
    curves = [read_curves(run, [*tags, NOISE_FLOOR], _steps_per_epoch(run)) for run in run_dirs]
    drawn = [c for c in curves if any(c.curves[t].values for t in tags)]
    if not drawn:
        raise UserError(f"runs={root}: no {', '.join(tags)} scalars in any TensorBoard event file below it")
    plot_curves(drawn, _labels(run_dirs, root), tags, out, log_y)
    table = table_of_runs(root, metrics, sort_by) if metrics is not None else table_of_runs(root, sort_by=sort_by)
    print(to_markdown(table), end="")
    skipped = len(curves) - len(drawn)
    print(f"Curves: {out} ({len(drawn)} runs" + (f"; {skipped} logged no {' or '.join(tags)}" if skipped else "") + ")")
    return out
