"""The project's path as ``scripts/train.py`` builds it: composed config, default callbacks, TensorBoard on."""

import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.data.base import TensorDataModule
from mlplab.model.regressor import Regressor
from mlplab.tasks.components import build_callbacks, build_loggers, tensorboard_loggers
from mlplab.tasks.train import make_trainer

CONF = Path(__file__).resolve().parents[3] / "conf"


def compose_run(overrides: list[str], output_dir: Path) -> DictConfig:
    resolvers.register()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(
            "train", overrides=[f"paths.root_dir={output_dir}", f"paths.output_dir={output_dir}", *overrides]
        )


def build(cfg: DictConfig, progress_bar: bool = True) -> tuple[TensorDataModule, Regressor, L.Trainer]:
    """What ``mlplab.tasks.train.train`` builds, by the same functions (the layer table is not printed)."""
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    loggers = build_loggers(cfg.get("logger"))
    for logger in tensorboard_loggers(loggers):
        # Opens the writer now: importing TensorBoard's protobufs (~0.3 s, once per process) is start-up
        # cost, not part of the per-step cost this bench measures.
        _ = logger.experiment
    progress_bar = progress_bar and cfg.trainer.get("enable_progress_bar", True)
    callbacks = build_callbacks(cfg.get("callbacks"), has_logger=bool(loggers), progress_bar=progress_bar)
    # As scripts/train.py: a bar only where one is configured (make_trainer), none at all without progress_bar.
    no_bar = {} if progress_bar else {"enable_progress_bar": False}
    trainer = make_trainer(cfg, Path(cfg.paths.output_dir), loggers, callbacks, enable_model_summary=False, **no_bar)
    return datamodule, model, trainer


def time_fit(datamodule: L.LightningDataModule, model: L.LightningModule, trainer: L.Trainer) -> float:
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start
