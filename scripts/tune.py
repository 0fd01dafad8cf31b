"""Search hyperparameters with Optuna: ``python scripts/tune.py hparams_search=mlp [key=value ...]``.

Every train override applies to every trial; ``tune.*`` sets the study (see conf/tune.yaml, docs/sweeps.md).
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from mlplab.config import resolvers
from mlplab.config.overrides import check_overrides
from mlplab.run.exit_codes import ctrl_c_in_one_line, run_reporting_errors

CONF = Path(__file__).resolve().parents[1] / "conf"
resolvers.register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="tune")
def main(cfg: DictConfig) -> float | None:
    from mlplab.extras import require

    def run() -> float | None:
        require("tune", "scripts/tune.py")  # a missing extra: one line, before Optuna is imported
        from mlplab.tune.run import tune  # here: --help and --cfg job stay quick

        return tune(cfg)

    return run_reporting_errors(run)


if __name__ == "__main__":
    with ctrl_c_in_one_line():
        check_overrides(CONF, "tune", searches=True)  # typos, and options searched that clash: one line, exit 2
        main()
