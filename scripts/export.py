"""Export a checkpoint: ``python scripts/export.py ckpt_path=PATH format=onnx output=model.onnx``."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab import resolvers
from mlplab.cli import run_reporting_errors
from mlplab.overrides import check_overrides

resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from mlplab.export import export  # heavy imports only once a task runs

    run_reporting_errors(lambda: export(cfg))


if __name__ == "__main__":
    check_overrides(Path(__file__).resolve().parents[1] / "conf", "export")  # typos: one line, exit 2
    main()
