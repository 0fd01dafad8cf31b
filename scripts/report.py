"""Loss curves as a PNG and the runs' table: ``python scripts/report.py runs=DIR output=curves.png``."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import ctrl_c_in_one_line, run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top: --help must not pay for matplotlib and tensorboard.
    from mlplab.tasks.report import report

    run_reporting_errors(
        lambda: report(cfg.runs, cfg.output, list(cfg.tags), list(cfg.metrics), cfg.sort_by, cfg.log_y)
    )


if __name__ == "__main__":
    with ctrl_c_in_one_line():
        check_overrides(Path(__file__).resolve().parents[1] / "conf", "report")  # typos: one line, exit 2
        main()
