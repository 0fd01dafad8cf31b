"""Export a checkpoint: ``python scripts/export.py ckpt_path=PATH format=onnx output=model.onnx``."""

import hydra
from omegaconf import DictConfig

from mlplab import resolvers
from mlplab.cli import run_reporting_errors

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from mlplab.export import export  # heavy imports only once a task runs

    run_reporting_errors(lambda: export(cfg))


if __name__ == "__main__":
    main()
