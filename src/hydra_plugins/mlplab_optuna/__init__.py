"""Optuna's Hydra sweeper, ending a study in which no trial completed with one line instead of a traceback.

``hparams_search=optuna`` names it as ``hydra.sweeper._target_``; Hydra takes sweepers only from the
``hydra_plugins`` package. Cheap to import (Hydra imports it at every start): the plugin imports Optuna
only when a sweep begins.
"""

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as _PluginSweeper

from mlplab.run.exit_codes import JobFailed


class OptunaSweeper(_PluginSweeper):
    def sweep(self, arguments: list[str]) -> None:
        try:
            return super().sweep(arguments)
        except ValueError as e:
            # The plugin asks the study for its best trial after the last one: with none completed, Optuna
            # raises. Each failed trial's error is already in its log (and in the sweep's comparison table).
            if "No trials are completed yet" not in str(e):
                raise
            config = self.sweeper.config  # set by setup(), before any sweep
            sweep_dir = config.hydra.sweep.dir if config is not None else "the sweep dir"
            raise JobFailed(
                f"error: no trial of the study completed, each one failed or diverged: see {sweep_dir}/comparison.md "
                "and the trials' logs"
            ) from e
