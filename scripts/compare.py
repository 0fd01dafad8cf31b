"""Table of runs: ``python scripts/compare.py runs=DIR [output=PATH]``; printed, saved as CSV and Markdown."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import ctrl_c_in_one_line, run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    from mlplab.tasks.compare import compare_runs

    metrics = [cfg.metrics] if isinstance(cfg.metrics, str) else list(cfg.metrics)  # metrics=val/loss: one
    run_reporting_errors(lambda: compare_runs(cfg.runs, cfg.output, metrics, cfg.sort_by))


if __name__ == "__main__":
    with ctrl_c_in_one_line():
        check_overrides(Path(__file__).resolve().parents[1] / "conf", "compare")  # typos: one line, exit 2
        main()
