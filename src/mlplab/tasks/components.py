"""Turns the ``callbacks`` and ``logger`` config mappings (name -> ``_target_`` config) into objects."""

from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig

from mlplab.tasks import mlflow_logging
from mlplab.tasks.mlflow_logging import is_mlflow


def _entries(group: DictConfig | None) -> list[DictConfig]:
    # A null entry is how a config or override drops one item (callbacks.progress_bar=null).
    return [conf for conf in (group or {}).values() if conf is not None]


def build_loggers(group: DictConfig | None, purge_step: int | None = None) -> list[Logger]:
    """``purge_step``: when resuming, TensorBoard hides events at or after it so curves don't double up."""
    loggers = []
    for conf in _entries(group):
        extra: dict[str, Any] = {}
        if purge_step is not None and conf.get("_target_", "").endswith("TensorBoardLogger"):
            extra["purge_step"] = purge_step
        if is_mlflow(conf):
            extra.update(mlflow_logging.build_args(conf))
        loggers.append(instantiate(conf, **extra))
    return loggers


def build_callbacks(group: DictConfig | None, has_logger: bool, progress_bar: bool = True) -> list[L.Callback]:
    """``progress_bar=False`` (trainer.enable_progress_bar=false) drops a configured bar instead of failing."""
    callbacks = [instantiate(conf) for conf in _entries(group)]
    if not progress_bar:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not has_logger:
        # LearningRateMonitor refuses to run without a logger; with logger=none there is nothing to monitor into.
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return callbacks


def has_progress_bar(callbacks: list[L.Callback]) -> bool:
    """The Trainer's ``enable_progress_bar``: a bar only if one is configured. Dropping it
    (``callbacks.progress_bar=null``, ``callbacks=none``) must not bring back Lightning's default bar."""
    return any(isinstance(c, ProgressBar) for c in callbacks)


def tensorboard_loggers(loggers: list[Logger]) -> list[TensorBoardLogger]:
    return [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
