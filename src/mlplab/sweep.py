"""Hydra callback: the comparison table of a multirun's runs, printed and saved when the sweep ends."""

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

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
