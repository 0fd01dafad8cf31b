"""Train the tutorial's net: ``python scripts/train.py [key=value ...]``; see ``--help`` for the config."""

import hydra
from omegaconf import DictConfig

from mlplab import resolvers
from mlplab.cli import run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    # Imported here, not at the top: --help and --cfg job must not pay for torch and lightning.
    from mlplab.train import train

    metrics = run_reporting_errors(lambda: train(cfg))
    # A sweeper (hparams_search) minimizes what this returns.
    return metrics.get(cfg.get("optimized_metric", "val/loss"))


if __name__ == "__main__":
    main()
