"""Train the tutorial's net: ``python scripts/train.py [key=value ...]``; see ``--help`` for the config."""

import math
from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | str | None:
    # Imported here, not at the top: --help and --cfg job must not pay for torch and lightning.
    from mlplab.run.ddp_job import ddp_job
    from mlplab.tasks.train import train

    # DDP ranks that Lightning starts rerun this job's config (also inside -m); see mlplab.run.ddp_job.
    with ddp_job(cfg, task="mlplab.tasks.train:train"):
        metrics = run_reporting_errors(lambda: train(cfg))
    # A sweeper (hparams_search) minimizes what this returns.
    name = cfg.get("optimized_metric", "val/loss")
    value = metrics.get(name)
    if value is not None and not math.isfinite(value):
        # A diverged run. hydra-optuna-sweeper 1.3 crashes the whole sweep on a NaN result (it tells
        # Optuna the value along with the FAIL state); a result that is no float it records as a failed
        # trial, with this text in its log line, and the sweep goes on. An inf would rank as a real value.
        return f"{name}={value} (diverged)"
    return value


if __name__ == "__main__":
    check_overrides(Path(__file__).resolve().parents[1] / "conf", "train")  # typos: one line, exit 2
    main()
