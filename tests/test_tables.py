"""Real tables: the public tables shipped in src/mlplab/datasets, trained with data=file's defaults and only
``data.target_columns`` given. Sizes come from the file, features and regression targets are standardized
with the training split's statistics, and everything reported or predicted is in raw units."""

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import assert_error_line, assert_names, compose_config, run_script, tool_cfg
from mlplab.data.file import FileDataModule
from mlplab.model.regressor import Regressor
from mlplab.run.checkpoints import load_checkpoint
from mlplab.tasks.evaluate import evaluate
from mlplab.tasks.predict import predict, read_inputs, write_outputs
from mlplab.tasks.train import build_model, train

DATASETS = Path(__file__).resolve().parents[1] / "src" / "mlplab" / "datasets"
QUIET = ["trainer.enable_progress_bar=false", "logger=none"]


def table(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``experiment=iris``: string labels, sorted by class, as the README shows it."""
    run_dir = tmp_path_factory.mktemp("iris") / "run"
    run_script("train.py", "experiment=iris", "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.mark.slow
def test_iris_classifies_well_beside_its_least_squares_baseline(iris_run: Path) -> None:
    metrics = json.loads((iris_run / "metrics.json").read_text())
    assert metrics["test/acc"] >= 0.9 and metrics["val/acc"] >= 0.9
    assert 0 <= metrics["test/f1"] <= 1 and "test/acc_least_squares" in metrics and "val/loss_best" in metrics
    saved = OmegaConf.load(iris_run / ".hydra" / "config.yaml")
    assert (saved.data.in_dim, saved.data.out_dim) == (4, 3)  # sizes read from the file, recorded
    ckpt = load_checkpoint(iris_run / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["classes"] == ["setosa", "versicolor", "virginica"]
    logged = OmegaConf.load(next((iris_run / "tensorboard").rglob("hparams.yaml")))  # TensorBoard's HParams too
    assert list(logged.classes) == ["setosa", "versicolor", "virginica"]
    assert ckpt["mlplab_feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    # The best checkpoint by cross entropy: accuracy on 15 validation flowers ties at the first epoch to reach it.
    assert any("val_loss" in p.name for p in (iris_run / "checkpoints").iterdir())
    assert saved.optimized_metric == "val/acc"  # what a sweep maximizes


@pytest.mark.slow
def test_eval_of_the_best_checkpoint_with_the_runs_experiment_gives_its_test_metrics(
    iris_run: Path, tmp_path: Path
) -> None:
    """As docs/runs-and-resume.md shows it: the same experiment, so the same data and the same test split."""
    (best,) = (p for p in (iris_run / "checkpoints").iterdir() if p.name != "last.ckpt")
    run_script("eval.py", "experiment=iris", f"ckpt_path={best}", f"hydra.run.dir={tmp_path / 'eval'}")
    trained = json.loads((iris_run / "metrics.json").read_text())
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for key in ("test/acc", "test/f1", "test/loss", "test/acc_least_squares"):
        assert evaluated[key] == pytest.approx(trained[key]), key


@pytest.mark.slow
def test_eval_reads_a_file_as_the_checkpoints_run_did(iris_run: Path, tmp_path: Path) -> None:
    """Features by the checkpoint's column names (in any order), labels by its classes; a file or task that
    cannot match is refused in one line, and leaves no run dir."""
    rows = list(csv.reader((DATASETS / "iris.csv").open()))
    order = [4, 3, 2, 1, 0]
    reordered = table(tmp_path / "in.csv", [rows[0][i] for i in order], [[r[i] for i in order] for r in rows[1:]])
    (best,) = (p for p in (iris_run / "checkpoints").iterdir() if p.name != "last.ckpt")
    file = ["data=file", "data.target_columns=[species]", "task=classification", f"ckpt_path={best}"]
    run_script("eval.py", *file, f"data.path={reordered}", f"hydra.run.dir={tmp_path / 'eval'}")
    trained = json.loads((iris_run / "metrics.json").read_text())
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert evaluated["test/acc"] == pytest.approx(trained["test/acc"])
    # Two of the three species only: still indexed as the model's classes.
    two = table(tmp_path / "two.csv", rows[0], [r for r in rows[1:] if r[4] != "versicolor"])
    (tmp_path / "e2").mkdir()
    assert evaluate(compose_config("eval", [*file, f"data.path={two}"], tmp_path / "e2"))["test/acc"] >= 0.9
    renamed = table(tmp_path / "renamed.csv", rows[0], [[*r[:4], r[4].upper()] for r in rows[1:]])
    codes = table(tmp_path / "codes.csv", rows[0], [[*r[:4], i // 50] for i, r in enumerate(rows[1:])])
    swapped = "data.feature_columns=[sepal_width,sepal_length,petal_length,petal_width]"
    refused = {
        renamed: (file, ("SETOSA", "never saw", "setosa")),
        reordered: ([*file, swapped], ("data.feature_columns", "sepal_width", "allowed: null")),
        codes: (file[:2] + file[3:], ("task=regression", "classification model", "task=classification")),
    }
    for path, (overrides, names) in refused.items():
        with pytest.raises(ValueError) as error:
            evaluate(compose_config("eval", [*overrides, f"data.path={path}"], tmp_path / path.stem))
        assert_names(str(error.value), *names)
    regression = [*file[:2], file[3], f"data.path={reordered}"]
    proc = run_script("eval.py", *regression, f"hydra.run.dir={tmp_path / 'e3'}", check=False)
    assert proc.returncode == 2 and not (tmp_path / "e3").exists()
    assert_error_line(proc.stderr, "species", "task=classification")


@pytest.mark.slow
def test_predict_matches_columns_by_name_and_answers_with_the_files_labels(iris_run: Path, tmp_path: Path) -> None:
    rows = list(csv.reader((DATASETS / "iris.csv").open()))
    # Columns in another order, the label column kept: matched by name, the rest ignored.
    order = [4, 3, 2, 1, 0]
    source = table(tmp_path / "in.csv", [rows[0][i] for i in order], [[r[i] for i in order] for r in rows[1:]])
    ckpt = iris_run / "checkpoints" / "last.ckpt"
    out = tmp_path / "out.csv"
    run_script("predict.py", f"ckpt_path={ckpt}", f"input={source}", f"output={out}", "probabilities=true")
    got = list(csv.DictReader(out.open()))
    assert list(got[0]) == ["species", "p_setosa", "p_versicolor", "p_virginica"]
    assert len(got) == 150
    right = sum(g["species"] == r[4] for g, r in zip(got, rows[1:], strict=True))
    assert right / 150 >= 0.9
    assert all(abs(sum(float(g[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica")) - 1) < 1e-5 for g in got)
    # .pt: the same columns as a dict (labels a list, probabilities tensors); .npy: the labels, one array.
    predict(
        tool_cfg("predict", f"ckpt_path={ckpt}", f"input={source}", f"output={tmp_path / 'o.pt'}", "probabilities=true")
    )
    saved = torch.load(tmp_path / "o.pt", weights_only=True)
    assert saved["species"] == [g["species"] for g in got] and saved["p_setosa"].shape == (150,)
    predict(tool_cfg("predict", f"ckpt_path={ckpt}", f"input={source}", f"output={tmp_path / 'o.npy'}"))
    assert np.load(tmp_path / "o.npy").tolist() == saved["species"]
    missing = table(tmp_path / "missing.csv", ["sepal_length", "petal_length"], [[5.1, 1.4]])
    proc = run_script(
        "predict.py", f"ckpt_path={ckpt}", f"input={missing}", f"output={tmp_path / 'x.csv'}", check=False
    )
    assert proc.returncode == 2
    assert_error_line(proc.stderr, str(missing), "sepal_width", "petal_width")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_onnx_export_takes_raw_inputs_and_gives_logits_or_probabilities(iris_run: Path, tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    ckpt = iris_run / "checkpoints" / "last.ckpt"
    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)  # raw cm: setosa, virginica
    for probabilities in ("false", "true"):
        path = tmp_path / f"m_{probabilities}.onnx"
        run_script("export.py", f"ckpt_path={ckpt}", "format=onnx", f"output={path}", f"probabilities={probabilities}")
        session = onnxruntime.InferenceSession(str(path))
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
        assert out.argmax(axis=1).tolist() == [0, 2]
        assert np.allclose(out.sum(axis=1), 1, atol=1e-5) == (probabilities == "true")
        # What a server needs to map columns: the inputs by name, the outputs as the file's labels.
        about = session.get_modelmeta().custom_metadata_map
        assert json.loads(about["mlplab_inputs"]) == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        assert json.loads(about["mlplab_outputs"]) == ["setosa", "versicolor", "virginica"]
        assert about["mlplab_y"] == ("probabilities" if probabilities == "true" else "logits")


@pytest.mark.slow
def test_regression_on_a_raw_unit_table_is_near_least_squares(tmp_path: Path) -> None:
    cfg = compose_config(
        "train",
        ["data=file", f"data.path={DATASETS / 'diabetes.csv'}", "data.target_columns=[progression]", *QUIET],
        tmp_path,
    )
    metrics = train(cfg)
    assert metrics["test/r2"] >= metrics["test/r2_least_squares"] - 0.05
    assert metrics["test/mse"] > 100  # raw units: the target is in the hundreds, not standardized
    # train/loss too: the net trains on standardized targets (a loss near 0.5), but reports raw units.
    assert metrics["train/loss"] > 100 and 0.2 < metrics["train/loss"] / metrics["val/loss"] < 5


def test_eval_takes_targets_in_the_checkpoints_order_and_its_labels_as_text(tmp_path: Path) -> None:
    """Targets named in another order than the run's would score each target against another's predictions;
    labels trained as text (a, 1, 2) match a file whose labels all read as numbers (1, 2)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    regression = tmp_path / "r.csv"
    table(regression, ["a", "b", "c", "big", "small"], [[*r, 100 * r[0], r[1]] for r in x.tolist()])
    trained = ["data=file", f"data.path={regression}", "data.target_columns=[big,small]", "trainer.max_epochs=2"]
    train(compose_config("train", [*trained, *QUIET], tmp_path / "r"))
    ckpt = f"ckpt_path={tmp_path / 'r' / 'checkpoints' / 'last.ckpt'}"
    swapped = [*trained[:2], "data.target_columns=[small,big]", ckpt, "logger=none"]
    (tmp_path / "e1").mkdir()
    with pytest.raises(ValueError) as error:
        evaluate(compose_config("eval", swapped, tmp_path / "e1"))
    assert_names(str(error.value), "data.target_columns", "big", "allowed: null")
    labels = ["a", "1", "2"] * 40
    mixed = table(
        tmp_path / "m.csv", ["a", "b", "c", "kind"], [[*r, k] for r, k in zip(x.tolist(), labels, strict=True)]
    )
    numbers = table(
        tmp_path / "n.csv",
        ["a", "b", "c", "kind"],
        [[*r, k] for r, k in zip(x.tolist(), labels, strict=True) if k != "a"],
    )
    file = ["data=file", "data.target_columns=[kind]", "task=classification"]
    train(compose_config("train", [*file, f"data.path={mixed}", "trainer.max_epochs=2", *QUIET], tmp_path / "m"))
    ckpt = f"ckpt_path={tmp_path / 'm' / 'checkpoints' / 'last.ckpt'}"
    (tmp_path / "e2").mkdir()
    metrics = evaluate(compose_config("eval", [*file, f"data.path={numbers}", ckpt, "logger=none"], tmp_path / "e2"))
    assert 0 <= metrics["test/acc"] <= 1


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    """R² per column in float64, averaged: what test/r2 means."""
    return float(np.mean(1 - ((y - pred) ** 2).sum(axis=0) / ((y - y.mean(axis=0)) ** 2).sum(axis=0)))


def test_r2_holds_for_a_tiny_target_and_one_far_from_zero(tmp_path: Path) -> None:
    """torchmetrics' R2Score sums in float32 and calls a residual below 1e-4 a perfect fit: a target of scale
    1e-3 read R² 1, one of 1e6 + signal read 0. R² is scored on the standardized targets (the same value)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 3))
    small = 1e-3 * rng.normal(size=300)  # noise: nothing predicts it
    far = 1e6 + 3 * a[:, 0] + a[:, 1] + 0.1 * rng.normal(size=300)
    table = tmp_path / "t.csv"
    np.savetxt(table, np.column_stack([a, small, far]), delimiter=",", header="a,b,c,small,far", comments="")
    overrides = ["data=file", f"data.path={table}", "data.target_columns=[small,far]", "trainer.max_epochs=30"]
    metrics = train(compose_config("train", [*overrides, *QUIET], tmp_path))
    data = instantiate(compose_config("train", overrides, tmp_path).data)
    data.setup("test")
    test, (x, y) = data.splits["test"], data.training_rows()
    model = Regressor.load_from_checkpoint(next((tmp_path / "checkpoints").glob("epoch*.ckpt")), weights_only=True)
    with torch.no_grad():
        pred = model(test.x).double().numpy()
    assert metrics["test/r2"] == pytest.approx(_r2(pred, test.y.double().numpy()), abs=1e-3)
    # The baseline too: least squares on the training rows, in float64.
    design = np.column_stack([x.double().numpy(), np.ones(len(x))])
    w = np.linalg.lstsq(design, y.double().numpy(), rcond=None)[0]
    ols = np.column_stack([test.x.double().numpy(), np.ones(len(test.x))]) @ w
    assert metrics["test/r2_least_squares"] == pytest.approx(_r2(ols, test.y.double().numpy()), abs=1e-3)
    assert metrics["test/r2_least_squares"] < 0.6  # the tiny target's R² is near 0, not 1


@pytest.mark.slow
def test_three_raw_unit_targets_from_twenty_rows_predict_in_raw_units(tmp_path: Path) -> None:
    targets = "data.target_columns=[weight,waist,pulse]"
    cfg = compose_config("train", ["data=file", f"data.path={DATASETS / 'linnerud.csv'}", targets, *QUIET], tmp_path)
    train(cfg)
    out = tmp_path / "pred.csv"
    run_script(
        "predict.py",
        f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}",
        f"input={DATASETS / 'linnerud.csv'}",
        f"output={out}",
    )
    got = list(csv.DictReader(out.open()))
    assert list(got[0]) == ["weight", "waist", "pulse"]
    weights = [float(g["weight"]) for g in got]
    assert 120 < np.mean(weights) < 230  # pounds, as in the file (mean 178)


def test_standardization_uses_the_training_split_only_and_survives_a_constant_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [[float(v), 7.0, float(v) * 3 + 100] for v in rng.normal(50, 10, 40)]
    path = table(tmp_path / "t.csv", ["a", "constant", "y"], rows)
    overrides = ["data=file", f"data.path={path}", "data.target_columns=[y]", "trainer.max_epochs=2", *QUIET]
    train(compose_config("train", overrides, tmp_path))
    state = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["state_dict"]  # buffers, in the checkpoint
    data = FileDataModule(path=str(path), target_columns=["y"])
    data.setup("fit")
    x, y = data.training_rows()
    assert torch.allclose(state["x_scale.mean"], x.mean(dim=0)) and torch.allclose(state["y_scale.mean"], y.mean(0))
    assert not torch.allclose(state["x_scale.mean"][0], torch.tensor(rows)[:, 0].mean())  # no val/test rows
    assert state["x_scale.std"][1] == 1  # the constant column: no division by zero
    model = build_model(
        compose_config("train", overrides, tmp_path / "again"), FileDataModule(path=str(path), target_columns=["y"])
    )
    model.load_state_dict(state)
    raw = model(torch.tensor([[50.0, 7.0]]))  # raw inputs, a raw output near 3 * 50 + 100
    assert 150 < float(raw.detach()) < 350


def test_sizes_come_from_the_file_and_feature_columns_narrow_them(tmp_path: Path) -> None:
    path = table(tmp_path / "t.csv", ["a", "b", "c", "label"], [[i, i * 2, i % 3, i % 2] for i in range(30)])
    data = FileDataModule(path=str(path), target_columns=["label"])
    data.setup("fit")
    assert data.sizes == {"in_dim": 3, "out_dim": 1}
    one = FileDataModule(path=str(path), target_columns="label")  # one name: data.target_columns=label
    one.setup("fit")
    assert one.sizes == {"in_dim": 3, "out_dim": 1} and one.target_names == ["label"]
    narrow = FileDataModule(path=str(path), target_columns=["label"], feature_columns=["c", "a"])
    narrow.setup("fit")
    assert narrow.sizes["in_dim"] == 2 and narrow.feature_names == ["c", "a"]
    labels = FileDataModule(path=str(path), target_columns=["label"], task="classification")
    labels.setup("fit")
    assert labels.sizes == {"in_dim": 3, "out_dim": 2, "classes": [0, 1]}  # integer labels stay integers


def test_the_model_config_alone_builds_the_net_with_the_files_sizes(tmp_path: Path) -> None:
    """``instantiate(cfg.model)``, with no data module at hand: the sizes are read from data.path."""
    iris = instantiate(compose_config("train", ["experiment=iris"], tmp_path).model)
    assert (iris.net.fc1.in_features, iris.net.fc2.out_features) == (4, 3)  # 4 measurements, 3 species
    narrow = ["data=file", f"data.path={DATASETS / 'diabetes.csv'}", "data.target_columns=[progression]"]
    diabetes = instantiate(compose_config("train", [*narrow, "data.feature_columns=[age,bmi]"], tmp_path).model)
    assert (diabetes.net.fc1.in_features, diabetes.net.fc2.out_features) == (2, 1)


def test_weight_decay_is_a_prior_whose_pull_fades_as_training_rows_grow(tmp_path: Path) -> None:
    """data=file's ``optimizer.weight_decay: ${per_training_row:3.0}``: 3 over the training split's rows."""
    linnerud = ["data=file", f"data.path={DATASETS / 'linnerud.csv'}", "data.target_columns=[weight,waist,pulse]"]
    cfg = compose_config("train", linnerud, tmp_path)
    data = instantiate(cfg.data)
    data.setup("fit")
    assert len(data.splits["train"]) == 16  # 20 rows split 16/2/2
    assert cfg.optimizer.weight_decay == 3 / 16
    assert instantiate(cfg.model).optimizer_factory.keywords["weight_decay"] == 3 / 16
    diabetes = ["data=file", f"data.path={DATASETS / 'diabetes.csv'}", "data.target_columns=[progression]"]
    assert compose_config("train", diabetes, tmp_path).optimizer.weight_decay == 3 / 354  # 442 rows: 354 train
    assert compose_config("train", [*diabetes, "optimizer.weight_decay=0"], tmp_path).optimizer.weight_decay == 0
    assert compose_config("train", ["data.num_samples=100"], tmp_path).optimizer.weight_decay == 0  # synthetic


def test_callbacks_none_drops_what_data_file_brings_too(tmp_path: Path) -> None:
    table_run = ["data=file", f"data.path={DATASETS / 'iris.csv'}", "data.target_columns=[species]"]
    assert {"early_stopping", "baseline"} <= set(compose_config("train", table_run, tmp_path).callbacks)
    assert not compose_config("train", [*table_run, "callbacks=none"], tmp_path).callbacks
    assert "early_stopping" not in compose_config("train", [*table_run, "callbacks=default"], tmp_path).callbacks


def test_classification_splits_are_stratified_even_for_a_file_sorted_by_class(tmp_path: Path) -> None:
    data = FileDataModule(path=str(DATASETS / "iris.csv"), target_columns=["species"], task="classification")
    data.setup("fit")
    for split, size in (("train", 40), ("val", 5), ("test", 5)):
        counts = torch.bincount(data.splits[split].y, minlength=3).tolist()
        assert counts == [size] * 3, (split, counts)


@pytest.mark.parametrize(
    ("rows", "classes", "sizes"), [(20, 3, [16, 2, 2]), (40, 10, [32, 4, 4]), (500, 100, [400, 50, 50])]
)
def test_a_small_table_of_many_classes_splits_like_a_regression_table_of_its_size(
    tmp_path: Path, rows: int, classes: int, sizes: list[int]
) -> None:
    """The split sizes come from all rows; each class gives val and test its share (largest remainders)."""
    labels = [f"c{i % classes}" for i in range(rows)]
    path = table(tmp_path / "t.csv", ["a", "label"], [[i, label] for i, label in enumerate(sorted(labels))])
    data = FileDataModule(path=str(path), target_columns=["label"], task="classification")
    data.setup("fit")
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == sizes
    train_counts = torch.bincount(data.splits["train"].y, minlength=classes)
    assert train_counts.min() >= 1  # every class keeps a training row
    held = torch.bincount(torch.cat([data.splits["val"].y, data.splits["test"].y]), minlength=classes)
    assert held.max() - held.min() <= 1  # balanced classes stay balanced in what is held out


def test_any_two_fractions_make_the_third_and_a_small_table_trains_with_defaults(tmp_path: Path) -> None:
    rows = [[i, (i * 7) % 5, 2.0 * i + 1] for i in range(20)]
    path = table(tmp_path / "small.csv", ["a", "b", "y"], rows)
    data = FileDataModule(path=str(path), target_columns=["y"], val_fraction=0.2, test_fraction=0.2)
    data.setup("fit")
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [12, 4, 4]
    # 20 rows, data=file's defaults, a batch larger than the training split (full batch), a few epochs.
    cfg = compose_config(
        "train",
        [
            "data=file",
            f"data.path={path}",
            "data.target_columns=[y]",
            "data.batch_size=64",
            "trainer.max_epochs=5",
            *QUIET,
        ],
        tmp_path,
    )
    metrics = train(cfg)
    assert metrics["global_step"] == 5  # one step per epoch: full batch
    # 16 rows, every default: 0.8/0.1/0.1 would leave 1 test row (no R²); val and test get 2, train 12.
    sixteen = FileDataModule(
        path=str(table(tmp_path / "sixteen.csv", ["a", "b", "y"], rows[:16])), target_columns=["y"]
    )
    sixteen.setup("fit")
    assert [len(sixteen.splits[s]) for s in ("train", "val", "test")] == [12, 2, 2]


def test_synthetic_classification_trains_offline_with_accuracy_metrics(tmp_path: Path) -> None:
    overrides = ["task=classification", "data.num_samples=200", "data.out_dim=3", "trainer.max_epochs=3", *QUIET]
    metrics = train(compose_config("train", overrides, tmp_path))
    assert {"val/acc", "val/f1", "test/acc", "test/f1", "val/loss_best"} <= set(metrics)
    assert "val/noise_floor" not in metrics  # an MSE floor says nothing about labels


def test_one_label_column_only(tmp_path: Path) -> None:
    path = table(tmp_path / "t.csv", ["a", "y1", "y2"], [[i, i % 2, i % 3] for i in range(30)])
    data = FileDataModule(path=str(path), target_columns=["y1", "y2"], task="classification")
    with pytest.raises(ValueError, match="one label column"):
        data.setup("fit")


def test_labels_are_the_files_own_text(tmp_path: Path) -> None:
    """Labels that read back as written are integers; '007' and '2.0' stay the text the file has, so
    predictions give them back as they were."""
    cases = [
        (["7", "-10"], [-10, 7]),
        (["007", "010"], ["007", "010"]),
        (["1.0", "2.0"], ["1.0", "2.0"]),
        (["-0", "0"], ["-0", "0"]),
    ]
    for labels, classes in cases:
        path = table(tmp_path / "t.csv", ["a", "label"], [[i, labels[i % 2]] for i in range(20)])
        data = FileDataModule(path=str(path), target_columns=["label"], task="classification")
        data.setup("fit")
        assert data.classes == classes
    np.save(tmp_path / "t.npy", np.c_[np.arange(20.0), np.arange(20) % 2 + 1.0])  # an array file's numbers
    data = FileDataModule(path=str(tmp_path / "t.npy"), target_columns=[1], task="classification")
    data.setup("fit")
    assert data.classes == [1, 2]


def test_predictions_write_labels_as_the_file_did(tmp_path: Path) -> None:
    """Integer labels of any length (IDs, dates) come back digit for digit, not as 1.2345679e+08."""
    write_outputs(tmp_path / "p.csv", {"id": np.array([123456789, 123456788]), "p_x": np.array([0.25, 0.75])})
    assert (tmp_path / "p.csv").read_text().splitlines() == ["id,p_x", "123456789,0.25", "123456788,0.75"]
    too_long = table(tmp_path / "t.csv", ["a", "id"], [[i, f"1234567890123456789{i % 2}"] for i in range(20)])
    data = FileDataModule(path=str(too_long), target_columns=["id"], task="classification")
    data.setup("fit")  # more digits than int64 holds: kept as text
    assert data.classes == ["12345678901234567890", "12345678901234567891"]


def test_probabilities_never_write_over_the_label_column(tmp_path: Path) -> None:
    """A label column named p_yes, with a class yes: its probability column would take the labels' place."""
    rows = [[i % 7, "yes" if i % 2 else "no"] for i in range(40)]
    path = table(tmp_path / "t.csv", ["a", "p_yes"], rows)
    file = ["data=file", f"data.path={path}", "data.target_columns=[p_yes]", "task=classification"]
    train(compose_config("train", [*file, "trainer.max_epochs=1", *QUIET], tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", f"input={path}", f"output={tmp_path / 'p.csv'}"]
    with pytest.raises(ValueError) as error:
        predict(tool_cfg("predict", *args, "probabilities=true"))
    assert_names(str(error.value), "probabilities=true", "p_yes", "allowed")
    predict(tool_cfg("predict", *args))
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "p_yes"


def test_a_first_row_is_the_header_only_where_it_names_columns_of_numbers(tmp_path: Path) -> None:
    """As csv.Sniffer judges it: a file without a header keeps its first row, even with a text label in it."""
    rows = [[i / 10, (i * 7) % 5, ["lo", "hi"][i % 2]] for i in range(30)]
    headless = tmp_path / "headless.csv"
    headless.write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    data = FileDataModule(path=str(headless), task="classification")
    data.setup("fit")
    assert data.feature_names is None and sum(len(s) for s in data.splits.values()) == 30
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(headless), target_columns=["label"], task="classification").setup("fit")
    assert_names(str(error.value), "data.target_columns", "no header row", "data.target_columns=[2]")
    missing_first = tmp_path / "missing_first.csv"  # a missing cell in the first row: data, not a header
    missing_first.write_text("0.5,NA,1\n" + "".join(f"{i},{i},{i}\n" for i in range(20)))
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(missing_first)).setup("fit")
    assert_names(str(error.value), "'NA'", "data row 1", "fill or drop")
    twice = table(tmp_path / "twice.csv", ["a", "a", "y"], [[i, i, i] for i in range(20)])
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(twice), target_columns=["y"]).setup("fit")
    assert_names(str(error.value), f"data.path={twice}", "'a' twice")


def test_a_column_finer_than_float32_at_its_size_is_refused(tmp_path: Path) -> None:
    """1e9 + 100 * noise reaches a float32 net as a few values 64 apart: no standardizing brings it back."""
    rng = np.random.default_rng(0)
    rows = [[a, 1e9 + 100 * b] for a, b in rng.normal(size=(40, 2)).tolist()]
    path = table(tmp_path / "far.csv", ["a", "y"], rows)
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(path), target_columns=["y"]).setup("fit")
    assert_names(str(error.value), f"data.path={path}", "targets", "float32", "allowed", "offset")


def test_a_header_of_numbers_is_the_header_where_the_columns_are_named(tmp_path: Path) -> None:
    """pandas writes a frame's default column names as 0,1,2: numbers to a sniffer, names to the user who says
    data.target_columns=[label]; predict knows the checkpoint's feature names the same way."""
    rows = [[i % 7, i % 5, i % 3, "yes" if i % 2 else "no"] for i in range(40)]
    path = table(tmp_path / "pandas.csv", ["0", "1", "2", "label"], rows)
    data = FileDataModule(path=str(path), target_columns=["label"], task="classification")
    data.setup("fit")
    assert data.classes == ["no", "yes"] and sum(len(s.x) for s in data.splits.values()) == 40
    features = table(tmp_path / "features.csv", ["2", "0", "1"], [[r[2], r[0], r[1]] for r in rows])
    x = read_inputs(features, 3, names=["0", "1", "2"])
    assert x.shape == (40, 3) and x[:, 0].tolist() == [float(r[0]) for r in rows]  # by name, every row


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_a_csv_saved_by_excel_reads_by_its_column_names(tmp_path: Path, sep: str) -> None:
    """Excel's "CSV UTF-8" starts with a byte-order mark and ends lines with CRLF; in many locales it
    separates cells with semicolons."""
    path = tmp_path / "excel.csv"
    lines = [["y", "a", "b"], *([str(i), str(i % 3), str(i % 5)] for i in range(20))]
    path.write_text("".join(sep.join(line) + "\r\n" for line in lines), encoding="utf-8-sig")
    data = FileDataModule(path=str(path), target_columns=["y"])
    data.setup("fit")
    assert data.feature_names == ["a", "b"] and data.target_names == ["y"]
    assert data.splits["train"].x.shape[1] == 2


def test_a_target_among_the_features_or_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    """The answer given as an input would train a net that only copies it; a column twice is a slip."""
    path = table(tmp_path / "t.csv", ["a", "b", "y"], [[i, i % 3, 2 * i] for i in range(20)])
    # (target_columns, feature_columns) -> what the line names
    cases: list[tuple[list[str | int], list[str | int] | None, tuple[str, ...]]] = [
        (["y"], ["a", "y"], ("data.feature_columns", "'y'", "target")),  # the answer among the inputs
        (["y", "y"], None, ("data.target_columns", "'y'", "twice")),
        (["y"], ["a", 0], ("data.feature_columns", "'a'", "twice")),  # by name, then by index
    ]
    for targets, features, names in cases:
        with pytest.raises(ValueError) as error:
            FileDataModule(path=str(path), target_columns=targets, feature_columns=features).setup("fit")
        assert_names(str(error.value), *names)


def test_tab_and_space_separated_text_files_read_like_a_csv(tmp_path: Path) -> None:
    """A ``.tsv`` with a header (a name in it may hold a comma), and ``numpy.savetxt``'s ``.txt`` (spaces, no
    header): the last column the target."""
    rows = [[i, i % 3, 2 * i] for i in range(20)]
    (tmp_path / "t.tsv").write_text("a, in cm\tb\ty\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    data = FileDataModule(path=str(tmp_path / "t.tsv"), target_columns="y")
    data.setup("fit")
    assert data.feature_names == ["a, in cm", "b"] and data.splits["train"].x.shape[1] == 2
    np.savetxt(tmp_path / "t.txt", np.array(rows, dtype=float))
    data = FileDataModule(path=str(tmp_path / "t.txt"))
    data.setup("fit")
    assert data.feature_names is None and data.sizes == {"in_dim": 2, "out_dim": 1}


def test_a_label_column_that_holds_no_labels_is_refused(tmp_path: Path) -> None:
    """A regression target given to task=classification (numbers that are not whole, as scikit-learn refuses
    "continuous" labels), and an empty label: one line each, naming the file and the way out."""
    cases: dict[str, tuple[list[list[object]], tuple[str, ...]]] = {
        "measure.csv": ([[i, i * 0.37] for i in range(20)], ("not whole", "0.37", "task=regression")),
        "gap.csv": ([[i, "" if i == 4 else "cat"] for i in range(20)], ("no label", "data row 5")),
        "na.csv": ([[i, "NA" if i == 6 else i % 2] for i in range(20)], ("no label", "data row 7", "'NA'")),
        "unknown.csv": ([[i, "?" if i == 0 else "dog"] for i in range(20)], ("no label", "data row 1")),
    }
    for name, (rows, names) in cases.items():
        data = FileDataModule(path=str(table(tmp_path / name, ["a", "label"], rows)), task="classification")
        with pytest.raises(ValueError) as error:
            data.setup("fit")
        assert_names(str(error.value), f"data.path={tmp_path / name}", *names)
    # An array file's float labels: inf is no class (int64 would turn it into -9223372036854775808).
    arrays = tmp_path / "inf.npz"
    np.savez(arrays, x=np.ones((20, 2), dtype=np.float32), y=np.array([0.0, 1.0] * 9 + [np.inf, 1.0]))
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(arrays), task="classification").setup("fit")
    assert_names(str(error.value), f"data.path={arrays}", "inf", "data row 19", "allowed")


def test_a_text_feature_or_a_missing_cell_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """A category as text (a restaurant bill's 'sex' column) and a missing cell: one line each, naming the file,
    the column and the row; for text, the numeric columns to keep, which then train."""
    rows = [[10.0 + i, ["Female", "Male"][i % 2], 2 + i % 3, 1.0 + i / 10] for i in range(20)]
    bills = table(tmp_path / "tips.csv", ["total_bill", "sex", "size", "tip"], rows)
    data = FileDataModule(path=str(bills), target_columns=["tip"])
    with pytest.raises(ValueError) as error:
        data.setup("fit")
    assert_names(str(error.value), f"data.path={bills}", "'sex'", "'Female'", "data.feature_columns=[total_bill,size]")
    data = FileDataModule(path=str(bills), target_columns=["tip"], feature_columns=["total_bill", "size"])
    data.setup("fit")
    assert data.feature_names == ["total_bill", "size"]
    for missing in ("", "NA", "NULL", "unknown"):  # a spelling of "no value", or text in a column of numbers
        gap = table(tmp_path / "gap.csv", ["a", "y"], [[missing if i == 3 else i, i] for i in range(20)])
        with pytest.raises(ValueError) as error:
            FileDataModule(path=str(gap), target_columns=["y"]).setup("fit")
        assert_names(str(error.value), f"data.path={gap}", "'a'", "data row 4", "missing values")
    european = tmp_path / "eu.csv"  # Excel's semicolons, with decimal commas
    european.write_text("a;y\n" + "".join(f"{i},5;{i}\n" for i in range(20)))
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(european)).setup("fit")
    assert_names(str(error.value), f"data.path={european}", "'0,5'", "decimal comma")


def test_the_columns_to_keep_are_written_as_a_command_line_takes_them(tmp_path: Path) -> None:
    """Names that are not plain words are quoted; where no column holds numbers, nothing is suggested; an array
    file's text is named too."""
    rows = [[10.0 + i, ["F", "M"][i % 2], i % 3, 1.0 + i / 10] for i in range(20)]
    spaced = table(tmp_path / "spaced.csv", ["total bill", "sex", "2019", "tip"], rows)
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(spaced), target_columns=["tip"]).setup("fit")
    assert_names(str(error.value), """'data.feature_columns=["total bill","2019"]'""")
    words = table(tmp_path / "words.csv", ["sex", "tip"], [[["F", "M"][i % 2], i] for i in range(20)])
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(words), target_columns=["tip"]).setup("fit")
    assert_names(str(error.value), "'sex'", "'F'", "encode text as numbers")
    assert "feature_columns" not in str(error.value)
    iris = FileDataModule(path=str(DATASETS / "iris.csv"))  # task=classification forgotten
    with pytest.raises(ValueError) as error:
        iris.setup("fit")
    assert_names(str(error.value), "targets", "'species'", "'setosa'", "task=classification")
    np.savez(tmp_path / "t.npz", x=np.array(["a", "b"] * 10), y=np.arange(20.0))
    with pytest.raises(ValueError) as error:
        FileDataModule(path=str(tmp_path / "t.npz")).setup("fit")
    assert_names(str(error.value), "features must be numeric", "'a'", "data row 1")
