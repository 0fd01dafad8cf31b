"""A table of runs: each run's overrides, final metrics, best epoch and directory, as CSV and Markdown.

Torch-free: it reads only what every run leaves behind (``.hydra/overrides.yaml``, ``metrics.json``),
so it is quick enough to run at the end of every multirun.
"""

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlplab.errors import UserError

# Each task's own among them (test/r2 of regression, val/acc and test/acc of classification): a default
# column that no run has is left out of the table.
DEFAULT_METRICS = ("train/loss", "val/loss", "val/loss_best", "test/loss", "test/r2", "val/acc", "test/acc")
# Metric names (after val/, test/; without _best) by which way is better: sweeps and tables sort by them.
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse")
HIGHER_IS_BETTER = ("acc", "f1", "r2")


def higher_is_better(metric: str) -> bool | None:
    """True for accuracy, F1, R²; False for losses and errors; None for a name it does not know."""
    name = metric.rsplit("/", 1)[-1].removesuffix("_best")
    return True if name in HIGHER_IS_BETTER else False if name in LOWER_IS_BETTER else None


@dataclass
class Run:
    """One run directory: what it overrode, and its final metrics (empty when it wrote none)."""

    path: Path
    overrides: dict[str, str]
    metrics: dict[str, float | None]

    @property
    def status(self) -> str:
        trial = self.path / "trial.json"  # a run of scripts/tune.py: its trial's state (pruned, failed)
        if trial.is_file():
            state = json.loads(trial.read_text()).get("state", "failed")
            if state != "complete":
                return str(state)
        if not self.metrics:  # no metrics.json: it raised, or was stopped before the end
            # A sweep's job logs its error line (mlplab.run.exit_codes): exit 3, NaN/inf, is told apart from the rest.
            logs = (log.read_text(errors="replace") for log in self.path.glob("*.log"))
            return "diverged" if any("error: training diverged" in text for text in logs) else "failed"
        loss = self.metrics.get("val/loss", 0.0)
        return "diverged" if loss is None or not math.isfinite(loss) else "ok"


def _natural_key(path: Path) -> list[int | str]:
    # Job dirs sort 0, 1, 2, ..., 10 rather than 0, 1, 10, 2.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_runs(root: Path) -> list[Path]:
    """``root`` itself when it is a run, else every run below it (a run has a ``.hydra`` folder)."""
    if not root.is_dir():
        raise UserError(f"runs={root}: no such directory (give a run dir, or a folder of runs or sweeps)")
    if _is_run(root):
        return [root]
    found = sorted((p.parent for p in root.rglob(".hydra") if _is_run(p.parent)), key=_natural_key)
    if not found:
        raise UserError(f"runs={root}: no runs below it (a run dir holds .hydra/ and metrics.json)")
    return found


def _is_run(path: Path) -> bool:
    """A dir of Hydra's with no runs below it: a study's dir (scripts/tune.py) holds its trials' runs."""
    return (path / ".hydra").is_dir() and not any(p.is_dir() for p in path.glob("*/**/.hydra"))


def _split_override(override: str) -> tuple[str, str]:
    key, sep, value = override.partition("=")
    return (key, value) if sep else (override, "")


def load_run(path: Path) -> Run:
    overrides_file = path / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    overrides = dict(_split_override(str(o)) for o in items or [])
    metrics_file = path / "metrics.json"
    metrics: dict[str, float | None] = {}
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"{metrics_file}: not valid JSON ({e})") from None
    return Run(path, overrides, metrics)


@dataclass
class Table:
    """Rows of text cells under a header; ``common``: the overrides every run shares (when there are several)."""

    header: list[str]
    rows: list[list[str]]
    common: dict[str, str]


def _cell(value: float | None) -> str:
    if value is None:
        return "nan"
    return f"{value:.6g}"


def _sort_value(run: Run, key: str) -> float:
    value = run.metrics.get(key)
    if value is None or not math.isfinite(value):
        return math.inf
    return -value if higher_is_better(key) else value


def build_table(
    runs: Sequence[Run], root: Path, metrics: Sequence[str] = DEFAULT_METRICS, sort_by: str | None = "val/loss"
) -> Table:
    """One row per run, best first by ``sort_by`` (failed and diverged runs last); ``None`` keeps dir order."""
    metrics = [m for m in metrics if m != "best_epoch"]  # a column of every table already
    if sort_by and sort_by not in metrics:
        metrics = [*metrics, sort_by]
    known = sorted({k for r in runs for k in r.metrics})
    if known and (unknown := [m for m in metrics if m not in known and m not in DEFAULT_METRICS and m != sort_by]):
        raise UserError(f"metrics: {unknown[0]}: no run has this metric; allowed: {', '.join(known)}")
    if known:
        metrics = [m for m in metrics if m in known or m not in DEFAULT_METRICS or m == sort_by]
    if sort_by:
        # A standard column that these runs lack (val/loss of eval runs) just leaves the table in run order.
        if known and sort_by not in known and sort_by not in DEFAULT_METRICS:
            raise UserError(f"sort_by={sort_by}: no run has this metric; allowed: {', '.join(known)}")
        runs = sorted(runs, key=lambda r: _sort_value(r, sort_by))
    override_keys = list(dict.fromkeys(k for r in runs for k in r.overrides))
    header = ["run", "status", *override_keys, *metrics, "best_epoch", "dir"]
    rows = []
    for run in runs:
        name = str(run.path.relative_to(root)) if run.path != root else run.path.name
        best = run.metrics.get("best_epoch")
        rows.append(
            [
                name,
                run.status,
                *(run.overrides.get(k, "") for k in override_keys),
                *(_cell(run.metrics[m]) if m in run.metrics else "" for m in metrics),
                str(int(best)) if best is not None else "",
                str(run.path),
            ]
        )
    common = {}
    if len(runs) > 1:
        common = {k: v for k, v in runs[0].overrides.items() if all(r.overrides.get(k) == v for r in runs)}
    return Table(header, rows, common)


def _short(cell: str) -> str:
    # Optuna's lr=0.003326843910859364 reads as 0.00332684; the CSV keeps every digit.
    try:
        return f"{float(cell):.6g}" if len(cell) > 10 else cell
    except ValueError:
        return cell


def to_markdown(table: Table) -> str:
    """The table for reading: without the absolute ``dir`` column and the overrides all runs share."""
    keep = [i for i, name in enumerate(table.header) if name != "dir" and name not in table.common]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_short(cells[i]).replace("|", "\\|") for i in keep) + " |"

    lines = [line(table.header), line(["---"] * len(table.header)), *map(line, table.rows)]
    if table.common:
        lines.insert(0, "Same in every run: " + " ".join(f"{k}={v}" for k, v in table.common.items()) + "\n")
    return "\n".join(lines) + "\n"


def write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.header)
        writer.writerows(table.rows)


def output_paths(runs_root: Path, output: str | None) -> tuple[Path, Path]:
    """``(csv, md)``: ``output`` without suffix names both; default ``<runs>/comparison.{csv,md}``."""
    base = Path(output) if output else runs_root / "comparison"
    if base.suffix in (".csv", ".md"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".csv"), base.with_name(base.name + ".md")


def table_of_runs(root: Path, metrics: Sequence[str] = DEFAULT_METRICS, sort_by: str | None = "val/loss") -> Table:
    return build_table([load_run(p) for p in find_runs(root)], root, metrics, sort_by)


def compare_runs(
    runs: str | Path,
    output: str | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    sort_by: str | None = "val/loss",
    echo: bool = True,
) -> Table:
    """Builds the table of the runs under ``runs``, prints it as Markdown (``echo``), and saves it as CSV and
    Markdown."""
    root = Path(runs)
    table = table_of_runs(root, metrics, sort_by)
    csv_path, md_path = output_paths(root, output)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(table, csv_path)
    markdown = to_markdown(table)
    md_path.write_text(markdown)
    if echo:
        print(markdown, end="")
        print(f"Saved: {csv_path}\n       {md_path}", flush=True)
    return table
