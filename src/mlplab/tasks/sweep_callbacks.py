"""Hydra callback of grid sweeps (``-m``): the comparison table at the end."""

import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mlplab.errors import UserError
from mlplab.run.exit_codes import in_multirun
from mlplab.tasks.compare import compare_runs

log = logging.getLogger(__name__)


class CompareRunsAtSweepEnd(Callback):
    """Writes ``<sweep dir>/comparison.{csv,md}`` (see :mod:`mlplab.tasks.compare`) after every multirun.

    Hydra ends a grid sweep that had a failed job by raising once the jobs have run, before
    ``on_multirun_end``: from the first failure on, the table is also rewritten after every job, so that
    it is there, with the failed jobs marked, when Hydra stops.
    """

    def __init__(self) -> None:
        self.failed = False

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        self.failed = self.failed or job_return.status == JobStatus.FAILED
        # Only where the jobs run one after another in this process (Hydra's basic launcher): a launcher's
        # worker process (submitit) would write the table while other jobs still run.
        in_sweep_process = str(OmegaConf.select(config, "hydra.launcher._target_")).endswith(".BasicLauncher")
        if self.failed and in_sweep_process and in_multirun():
            self._write(config, echo=False)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print()
        self._write(config, echo=True)

    def _write(self, config: DictConfig, echo: bool) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            compare_runs(sweep_dir, sort_by=config.get("optimized_metric", "val/loss"), echo=echo)
        except (UserError, OSError, ValueError) as e:
            # The runs themselves are done and saved: a table that cannot be made is no reason to fail.
            log.warning(f"No comparison table for {sweep_dir}: {e}")
