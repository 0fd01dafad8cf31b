"""Test metrics of a checkpoint: ``python scripts/eval.py ckpt_path=PATH [key=value ...]``."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import ctrl_c_in_one_line, run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    # Heavy imports only once a task runs.
    from mlplab.run.ddp_job import ddp_job
    from mlplab.tasks.evaluate import evaluate

    # DDP ranks that Lightning starts rerun this job's config (also inside -m); see mlplab.run.ddp_job.
    with ddp_job(cfg, task="mlplab.tasks.evaluate:evaluate"):
        run_reporting_errors(lambda: evaluate(cfg))


if __name__ == "__main__":
    with ctrl_c_in_one_line():
        check_overrides(Path(__file__).resolve().parents[1] / "conf", "eval")  # typos: one line, exit 2
        main()
