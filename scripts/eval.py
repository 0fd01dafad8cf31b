"""Test metrics of a checkpoint: ``python scripts/eval.py ckpt_path=PATH [key=value ...]``."""

import hydra
from omegaconf import DictConfig

from mlplab import resolvers
from mlplab.cli import run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from mlplab.evaluate import evaluate  # heavy imports only once a task runs

    run_reporting_errors(lambda: evaluate(cfg))


if __name__ == "__main__":
    main()
