"""Grid sweeps end to end: a 2x2 Hydra multirun, and the comparison table, HParams data and loss-curve report
of its runs (Optuna studies: test_tune.py)."""

import csv
import json
from pathlib import Path

import matplotlib.image
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import TINY, assert_error_line, assert_names, run_script, whole
from mlplab.errors import UserError
from mlplab.tasks.compare import Run, build_table
from mlplab.tasks.curves import read_curves

# 4 steps per epoch: train/loss is logged every 2 steps so the curves have points.
QUIET = [*TINY, "trainer.log_every_n_steps=2"]
GRID = {(lr, dim) for lr in ("0.1", "0.01") for dim in ("8", "32")}


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real 2x2 multirun; returns its sweep dir and the console output."""
    sweep = tmp_path_factory.mktemp("grid") / "sweep"
    proc = run_script(
        "train.py", "-m", "optimizer.lr=0.1,0.01", "model.hidden_dim=8,32", *QUIET, f"hydra.sweep.dir={sweep}"
    )
    return sweep, proc.stdout


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_grid_runs_every_combination_and_tables_them_at_the_end(grid: tuple[Path, str]) -> None:
    sweep, stdout = grid
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    for job in jobs:
        assert (job / "checkpoints" / "last.ckpt").is_file()
        assert json.loads((job / "metrics.json").read_text())["val/loss"] > 0
    # The Hydra callback (conf/hydra/default.yaml) wrote and printed the table after the multirun.
    rows = _rows(sweep / "comparison.csv")
    assert {(r["optimizer.lr"], r["model.hidden_dim"]) for r in rows} == GRID
    for row in rows:
        metrics = json.loads((Path(row["dir"]) / "metrics.json").read_text())
        assert float(row["val/loss"]) == pytest.approx(metrics["val/loss"], rel=1e-5)
        assert row["best_epoch"] == str(int(metrics["best_epoch"]))
        assert row["status"] == "ok"
    losses = [float(r["val/loss"]) for r in rows]
    assert losses == sorted(losses)  # best first
    markdown = (sweep / "comparison.md").read_text()
    assert markdown in stdout
    assert "| run | status | optimizer.lr | model.hidden_dim |" in markdown
    assert "Same in every run: trainer.max_epochs=2" in markdown


@pytest.mark.slow
def test_the_same_sweep_again_into_its_dir_is_refused_and_its_runs_stay(grid: tuple[Path, str]) -> None:
    sweep, _ = grid
    before = {p: p.stat().st_mtime_ns for p in sweep.rglob("*") if p.is_file()}
    again = ("train.py", "-m", "optimizer.lr=0.1,0.01", "model.hidden_dim=8,32", *QUIET, f"hydra.sweep.dir={sweep}")
    proc = run_script(*again, check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, f"hydra.sweep.dir={sweep}", "0/metrics.json", "ckpt_path=last")
    assert {p: p.stat().st_mtime_ns for p in sweep.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_grid_runs_compare_side_by_side_in_the_hparams_tab(grid: tuple[Path, str]) -> None:
    sweep, _ = grid
    seen = set()
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        acc = EventAccumulator(str(job / "tensorboard"))
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        params = start.session_start_info.hparams
        seen.add((f"{params['optimizer.lr'].number_value:g}", f"{params['model.hidden_dim'].number_value:g}"))
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        tags = {m.name.tag for m in experiment.metric_infos}
        assert {"val/loss", "test/loss", "val/loss_best"} <= tags
        assert {"val/loss", "test/loss"} <= set(acc.Tags()["scalars"])
    assert seen == GRID


@pytest.mark.slow
def test_compare_script_saves_csv_and_markdown_where_asked(grid: tuple[Path, str], tmp_path: Path) -> None:
    sweep, _ = grid
    proc = run_script("compare.py", f"runs={sweep}", f"output={tmp_path / 'table'}", "sort_by=null")
    rows = _rows(tmp_path / "table.csv")
    assert [Path(r["dir"]).name for r in rows] == ["0", "1", "2", "3"]  # sort_by=null: job order
    assert (tmp_path / "table.md").read_text() in proc.stdout
    run_script("compare.py", f"runs={sweep / '2'}", f"output={tmp_path / 'one.csv'}")
    assert [r["optimizer.lr"] for r in _rows(tmp_path / "one.csv")] == ["0.01"]
    nothing = run_script("compare.py", f"runs={tmp_path / 'nothing'}", check=False)
    assert nothing.returncode == 2
    assert_error_line(nothing.stderr, f"runs={tmp_path / 'nothing'}")
    typo = run_script("compare.py", f"runs={sweep}", "sort_by=val/los", f"output={tmp_path / 'typo'}", check=False)
    assert typo.returncode == 2
    assert_error_line(typo.stderr, "sort_by=val/los", "allowed", whole("val/loss"))


@pytest.mark.slow
def test_report_curves_are_the_runs_logged_scalars(grid: tuple[Path, str]) -> None:
    sweep, _ = grid
    metrics = json.loads((sweep / "0" / "metrics.json").read_text())
    steps_per_epoch = metrics["global_step"] / metrics["epoch"]
    curves = read_curves(sweep / "0", ["train/loss", "val/loss", "val/noise_floor"], steps_per_epoch).curves
    assert curves["val/loss"].x == [1.0, 2.0]  # one point at the end of each epoch
    assert curves["val/loss"].values[-1] == pytest.approx(metrics["val/loss"])
    assert len(curves["train/loss"].x) == metrics["global_step"] // 2 and curves["train/loss"].x[-1] == 2.0
    assert curves["val/noise_floor"].values[-1] == pytest.approx(0.1**2)


@pytest.mark.slow
def test_report_draws_the_curves_png_and_prints_the_table(grid: tuple[Path, str], tmp_path: Path) -> None:
    sweep, _ = grid
    png = tmp_path / "curves.png"
    proc = run_script("report.py", f"runs={sweep}", f"output={png}")
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    assert "| run | status | optimizer.lr | model.hidden_dim |" in proc.stdout
    assert f"Curves: {png} (4 runs)" in proc.stdout
    bad = run_script("report.py", f"runs={sweep}", f"output={tmp_path / 'curves.txt'}", check=False)
    assert bad.returncode == 2
    assert_error_line(bad.stderr, f"output={tmp_path / 'curves.txt'}", ".png")


def test_eval_runs_table_without_val_metrics_and_a_typo_in_sort_by_is_refused(tmp_path: Path) -> None:
    evals = [Run(tmp_path / str(i), {}, {"test/loss": loss}) for i, loss in enumerate([0.3, 0.1])]
    table = build_table(evals, tmp_path, sort_by="val/loss")  # the default; eval runs have no val/*
    assert [row[0] for row in table.rows] == ["0", "1"]  # run order
    assert [row[0] for row in build_table(evals, tmp_path, sort_by="test/loss").rows] == ["1", "0"]
    with pytest.raises(UserError) as typo:
        build_table(evals, tmp_path, sort_by="test/los")
    assert_names(str(typo.value), "sort_by=test/los", "allowed", whole("test/loss"))


def test_best_epoch_asked_for_among_the_metrics_is_one_column(tmp_path: Path) -> None:
    runs = [Run(tmp_path / "0", {}, {"test/r2": 0.5, "best_epoch": 7.0})]
    table = build_table(runs, tmp_path, metrics=["test/r2", "best_epoch"], sort_by=None)
    assert table.header.count("best_epoch") == 1
    assert table.rows[0][table.header.index("best_epoch")] == "7"
