"""The core install runs a plain training and imports no extra's package; a feature whose extra is missing
stops with one line naming ``pip install 'mlplab[EXTRA]'``.

Extras are missing for real here: the scripts run in an emulated ``pip install mlplab`` (tests/core_install.py).
"""

import importlib.metadata as md
import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, assert_error_line, run_script
from core_install import core_closure, make_core_site, run_core
from mlplab.extras import EXTRAS, extra_of_target, missing_module, not_installed

# What a plain run must not import: the extras' packages, and scipy (torchmetrics imports it when installed).
EXTRA_PACKAGES = {"optuna", "optuna_integration", "onnx", "onnxruntime", "onnxscript", "matplotlib", "submitit"}
EXTRA_PACKAGES |= {"mlflow", "sqlalchemy", "alembic", "hydra_plugins.hydra_submitit_launcher"}
PLAIN_RUN = ["trainer.max_epochs=1", "data.num_samples=64", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def core_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_core_site(tmp_path_factory.mktemp("core_site"))


def imported(importtime_log: str) -> set[str]:
    """Every module named in ``python -X importtime``'s lines, and each of its parent packages."""
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", importtime_log, flags=re.M)
    return {".".join(name.split(".")[: i + 1]) for name in names for i in range(name.count(".") + 1)}


def test_the_table_of_extras_matches_pyproject_and_the_dev_venv_has_them_all() -> None:
    declared = {m[1] for line in md.requires("mlplab") or [] if (m := re.search(r'extra == "(\w+)"', line))}
    assert set(EXTRAS) == declared - {"all", "dev"}
    assert {extra: missing_module(extra) for extra in EXTRAS} == dict.fromkeys(EXTRAS)  # names that exist


def test_a_target_in_an_extras_package_is_known_by_it() -> None:
    assert extra_of_target("optuna.pruners.MedianPruner") == "tune"
    assert extra_of_target("hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher") == "slurm"
    assert extra_of_target("onnxruntime_extensions.X") is None and extra_of_target("torch.optim.SGD") is None


def test_a_missing_module_names_the_feature_and_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRAS, "export", ("onnx", "no_such_module_here", "onnxruntime"))
    error = not_installed("export", "format=onnx")
    assert error is not None
    assert "pip install 'mlplab[export]'" in str(error) and "no_such_module_here" in str(error)
    assert "format=onnx" in str(error) and "\n" not in str(error)
    assert not_installed("report", "scripts/report.py") is None


def test_the_core_closure_holds_no_extra() -> None:
    closure = core_closure()
    assert {"torch", "lightning", "hydra-core", "tensorboard"} <= closure
    assert not closure & {"scipy", "matplotlib", "optuna", "onnx", "mlflow-skinny", "submitit", "pandas"}


@pytest.mark.slow  # a whole (tiny) training in a subprocess
def test_a_plain_run_trains_on_the_core_install_and_imports_no_extra(core_site: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_core(core_site, ["-X", "importtime", "scripts/train.py", *PLAIN_RUN, f"hydra.run.dir={run_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["test/loss"] > 0
    assert (run_dir / "tensorboard").is_dir()  # the default logger is part of the core
    modules = imported(proc.stderr)
    assert "lightning" in modules and "torchmetrics" in modules  # the log is read
    assert not modules & (EXTRA_PACKAGES | {"scipy"}), sorted(modules & (EXTRA_PACKAGES | {"scipy"}))


@pytest.mark.slow  # a whole (tiny) training in a subprocess
def test_a_plain_run_in_the_dev_venv_imports_no_optional_feature(tmp_path: Path) -> None:
    """With every extra installed. scipy and matplotlib are not checked: torchmetrics imports them whenever
    they are installed (matplotlib is mlplab[report]'s), which is torchmetrics' choice, not mlplab's."""
    run_dir = tmp_path / "run"
    proc = run_script("train.py", *PLAIN_RUN, f"hydra.run.dir={run_dir}", env={"PYTHONPROFILEIMPORTTIME": "1"})
    modules = imported(proc.stderr)
    assert "lightning" in modules
    unexpected = modules & (EXTRA_PACKAGES - {"matplotlib"})
    assert not unexpected, sorted(unexpected)


# Each feature in a core install: (the command's arguments, the extra, what the line names as the feature).
FEATURES = {
    "export": (["scripts/export.py", "ckpt_path=model.ckpt", "format=onnx"], "export", "format=onnx"),
    "report": (["scripts/report.py", "runs=."], "report", "scripts/report.py"),
    "slurm": (
        ["scripts/train.py", "-m", "hydra/launcher=slurm_local", "optimizer.lr=0.01,0.1"],
        "slurm",
        "slurm_local",
    ),
    "mlflow": (["scripts/train.py", *PLAIN_RUN, "logger=mlflow", "hydra.run.dir=run"], "mlflow", "logger=mlflow"),
    # The config check imports each _target_ (tune.pruner: optuna.pruners.…) before scripts/tune.py's own check.
    "tune": (["scripts/tune.py"], "tune", "optuna"),
}


@pytest.mark.slow  # a script in a subprocess (export and mlflow import torch first)
@pytest.mark.parametrize("feature", FEATURES)
def test_a_feature_without_its_extra_stops_in_one_line_naming_it(core_site: Path, tmp_path: Path, feature: str) -> None:
    args, extra, named = FEATURES[feature]
    args = [str(ROOT / a) if a.startswith("scripts/") else a for a in args]
    proc = run_core(core_site, args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_error_line(proc.stderr, f"pip install 'mlplab[{extra}]'", named)
    assert not list(tmp_path.iterdir()), "a refused run leaves nothing behind"  # no run dir, no store, no sweep dir
