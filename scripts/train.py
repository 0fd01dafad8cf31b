"""Train the tutorial's net: ``python scripts/train.py [key=value ...]``; see ``--help`` for the config."""

import gc
from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import ctrl_c_in_one_line, run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top: --help and --cfg job must not pay for torch and lightning.
    from mlplab.run.ddp_job import ddp_job
    from mlplab.tasks.train import train

    # DDP ranks that Lightning starts rerun this job's config (also inside -m); see mlplab.run.ddp_job.
    with ddp_job(cfg, task="mlplab.tasks.train:train"):
        run_reporting_errors(lambda: train(cfg))


if __name__ == "__main__":
    with ctrl_c_in_one_line():
        check_overrides(Path(__file__).resolve().parents[1] / "conf", "train")  # typos: one line, exit 2
        main()
    # Python's last collection at exit walks every object torch and Lightning made (about 1 s here): frozen
    # objects are skipped, and the process is ending anyway (docs/performance.md, whole process).
    gc.freeze()
