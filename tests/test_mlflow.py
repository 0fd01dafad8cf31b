"""logger=mlflow: a real run into a real SQLite store, read back through MLflow's own client."""

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import TINY, run_script
from mlplab.tasks.mlflow_logging import build_args


@pytest.mark.slow  # a whole run in a subprocess, beside TensorBoard
def test_a_run_logs_scalars_params_and_best_checkpoint_into_the_store(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    # The default store is <the command's directory>/logs/mlflow.db: run from tmp_path so it lands there.
    proc = run_script("train.py", *TINY, "logger=[tensorboard,mlflow]", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    # Nothing MLflow says on a first run is news to the user (console_noise explains each silenced line).
    assert "Warning" not in output and "WARNING" not in output and " INFO " not in output, output[-3000:]
    store = tmp_path / "logs" / "mlflow.db"
    assert store.is_file() and (run_dir / "tensorboard").is_dir()  # both loggers wrote
    final = json.loads((run_dir / "metrics.json").read_text())

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("train")  # task_name
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    run_id = run.info.run_id
    for name in ("train/loss", "val/loss", "test/loss"):
        history = client.get_metric_history(run_id, name)
        assert history, f"{name} was not logged"
        if name != "train/loss":  # train/loss in metrics.json is the last window's mean, also logged
            assert history[-1].value == pytest.approx(final[name], rel=1e-6), name
    assert len(client.get_metric_history(run_id, "val/loss")) == 2  # one per epoch
    assert run.data.metrics["val/loss_best"] == pytest.approx(final["val/loss_best"], rel=1e-6)
    assert run.data.metrics["best_epoch"] == final["best_epoch"]
    # The flat config, as the HParams tab has it.
    assert run.data.params["optimizer.lr"] == "0.01"
    assert run.data.params["trainer.max_epochs"] == "2"
    assert run.data.params["data.num_samples"] == "64"
    best = Path(run.data.tags["best_checkpoint"])
    assert best.is_file() and best.parent == run_dir / "checkpoints" and best.name != "last.ckpt"
    assert run.data.tags["run_dir"] == str(run_dir)


def test_a_multirun_job_is_named_after_its_sweep_and_the_store_folder_is_made(tmp_path: Path) -> None:
    store = tmp_path / "not_yet" / "mlflow.db"
    conf = OmegaConf.create(
        {
            "_target_": "lightning.pytorch.loggers.MLFlowLogger",
            "tracking_uri": f"sqlite:///{store}",
            "run_name": None,
            "tags": {"run_dir": str(tmp_path / "multiruns" / "2026-12-05_12-00-00_abc123" / "3")},
        }
    )
    assert build_args(conf) == {"run_name": "2026-12-05_12-00-00_abc123/3"}
    assert store.parent.is_dir()  # SQLite makes the file, not its folder
    conf.run_name = "mine"
    assert build_args(conf) == {}  # a name given in the config stays
