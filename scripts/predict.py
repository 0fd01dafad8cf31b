"""Predict with a checkpoint: ``python scripts/predict.py ckpt_path=PATH input=FILE output=FILE``."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import ctrl_c_in_one_line, run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from mlplab.tasks.predict import predict  # heavy imports only once a task runs

    run_reporting_errors(lambda: predict(cfg))


if __name__ == "__main__":
    with ctrl_c_in_one_line():
        check_overrides(Path(__file__).resolve().parents[1] / "conf", "predict")  # typos: one line, exit 2
        main()
