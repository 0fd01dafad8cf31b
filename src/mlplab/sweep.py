"""Hydra callbacks of sweeps: the comparison table at the end, and a folder for the Optuna study file."""

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mlplab.compare import compare_runs
from mlplab.errors import UserError

log = logging.getLogger(__name__)


class CompareRunsAtSweepEnd(Callback):
    """Writes ``<sweep dir>/comparison.{csv,md}`` (see :mod:`mlplab.compare`) after every multirun."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            print()
            compare_runs(sweep_dir, sort_by=config.get("optimized_metric", "val/loss"))
        except (UserError, OSError, ValueError) as e:
            # The runs themselves are done and saved: a table that cannot be made is no reason to fail.
            log.warning(f"No comparison table for {sweep_dir}: {e}")


class MakeSqliteStorageDir(Callback):
    """Lets ``hydra.sweeper.storage=sqlite:///logs/optuna.db`` work before ``logs/`` exists.

    SQLite creates no folders, and the Optuna sweeper opens the storage before any run makes one.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        storage = OmegaConf.select(config, "hydra.sweeper.storage")
        if isinstance(storage, str) and storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
