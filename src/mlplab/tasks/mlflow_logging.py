"""``logger=mlflow``: Lightning's MLFlowLogger, named after the run directory, and the end-of-run summary.

Lightning logs the scalars (``train/loss``, ``val/*``, ``test/*``) and the module's hyperparameters on
rank 0; this adds what the TensorBoard HParams tab gets at the end: the flat config, the best values, and
the best checkpoint's path.
"""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger
from omegaconf import DictConfig

from mlplab.extras import require

SQLITE = "sqlite:///"


def is_mlflow(conf: DictConfig) -> bool:
    return str(conf.get("_target_", "")).endswith("MLFlowLogger")


def build_args(conf: DictConfig) -> dict[str, Any]:
    """Arguments to add to ``conf``'s: the run name it leaves null. Makes the SQLite store's folder.

    Stops with one line if mlplab[mlflow] is not installed, before Lightning's ModuleNotFoundError.
    """
    require("mlflow", "logger=mlflow")
    uri = str(conf.get("tracking_uri") or "")
    if uri.startswith(SQLITE):
        # SQLite creates the file, not its folder; logs/ may not exist yet (hydra.run.dir elsewhere, compose API).
        Path(uri.removeprefix(SQLITE)).parent.mkdir(parents=True, exist_ok=True)
    run_dir = (conf.get("tags") or {}).get("run_dir")
    if conf.get("run_name") is not None or not run_dir:
        return {}
    path = Path(str(run_dir))
    # A multirun's job dirs are numbered: 3 alone would not say which sweep it belongs to.
    return {"run_name": f"{path.parent.name}/{path.name}" if path.name.isdigit() else path.name}


def mlflow_loggers(loggers: list[Logger]) -> list[MLFlowLogger]:
    return [lg for lg in loggers if isinstance(lg, MLFlowLogger)]


def log_summary(
    loggers: list[Logger], params: Mapping[str, Any], metrics: Mapping[str, float], best: str, step: int
) -> None:
    """On rank 0, at the run's end: the flat config as params, the final values that were not logged during
    training (``val/loss_best``, ``best_epoch``) at ``step``, and the best checkpoint's path as the tag
    ``best_checkpoint``."""
    for logger in mlflow_loggers(loggers):
        logger.log_hyperparams(dict(params))
        # The same as the HParams tab's new scalars (mlplab.tasks.train._report); the rest Lightning logged.
        finite = {k: v for k, v in metrics.items() if (k.endswith("_best") or k == "best_epoch") and math.isfinite(v)}
        if finite:
            logger.log_metrics(finite, step=step)
        client = logger.experiment
        if best:
            client.set_tag(logger.run_id, "best_checkpoint", str(Path(best).absolute()))
        run = client.get_run(str(logger.run_id)).info
        experiment = client.get_experiment(run.experiment_id).name
        print(f"MLflow:        run {run.run_name} of experiment {experiment} in {client.tracking_uri} (make mlflow-ui)")
