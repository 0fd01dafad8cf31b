"""One trial: the train config composed with the trial's values, run as a normal run in its own directory."""

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import optuna
from hydra import compose
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna_integration import PyTorchLightningPruningCallback

from mlplab.errors import Interrupted, UserError
from mlplab.run.exit_codes import one_line_reason
from mlplab.run.results import flat_hparams, log_hparams_with_metrics
from mlplab.run.run_dir import HYDRA_SUBDIR
from mlplab.tasks.components import tensorboard_loggers
from mlplab.tune.liveness import Liveness
from mlplab.tune.space import suggest

TRIAL_FILE = "trial.json"  # in each trial's run dir: its number, state, value or reason (compare reads it)


def trial_config(overrides: list[str], run_dir: Path) -> tuple[DictConfig, dict[str, Any]]:
    """scripts/train.py's config for these overrides, run in ``run_dir``, and its config groups' choices."""
    cfg = compose("train", overrides=[*overrides, f"paths.output_dir='{run_dir}'"], return_hydra_config=True)
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    assert isinstance(choices, dict)
    return cfg, {str(k): v for k, v in choices.items()}


class Pruning(PyTorchLightningPruningCallback):
    """optuna-integration's pruning; a pruned trial still gets its HParams entry, with the metrics it reached."""

    def __init__(self, trial: optuna.Trial, monitor: str, cfg: DictConfig) -> None:
        super().__init__(trial, monitor)
        self.cfg = cfg

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        try:
            super().on_validation_end(trainer, pl_module)
        except optuna.TrialPruned:
            reached = {k: float(v) for k, v in trainer.callback_metrics.items() if "/" in k}
            for logger in tensorboard_loggers(trainer.loggers):
                log_hparams_with_metrics(logger, flat_hparams(self.cfg), reached, {}, step=trainer.global_step)
            raise


class Objective:
    """Called by ``study.optimize`` once per trial; returns the trial's ``metric``, or raises (FAIL, PRUNED)."""

    def __init__(
        self, base: list[str], space: Mapping[str, Any], metric: str, study_dir: Path, worker: int, liveness: Liveness
    ) -> None:
        self.base, self.space, self.metric, self.study_dir, self.worker = base, space, metric, study_dir, worker
        self.liveness = liveness
        self.interrupted: Interrupted | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        from mlplab.tasks.train import train  # torch and Lightning: only once a trial runs

        overrides = [*self.base, *suggest(trial, self.space)]
        run_dir = self.study_dir / "trials" / str(trial.number)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", self.worker)
        record: dict[str, Any] = {"number": trial.number, "params": trial.params, "overrides": overrides}
        try:
            cfg, record["choices"] = trial_config(overrides, run_dir)
            _save_config(cfg, overrides, run_dir)
            with self.liveness.beating(trial):
                metrics = train(cfg, callbacks=[Pruning(trial, self.metric, cfg)])
            value = metrics.get(self.metric)
            if value is None:
                shown = ", ".join(k for k in metrics if "/" in k)
                raise UserError(f"tune.metric={self.metric}: the trial logged no such metric; it logged {shown}")
            if not math.isfinite(value):
                raise UserError(f"{self.metric}={value}: not a number to optimize")
            record.update(state="complete", value=value)
            return value
        except optuna.TrialPruned as e:
            record.update(state="pruned", reason=str(e))
            raise
        except Interrupted as e:
            # Not an Exception, so Optuna would leave the trial RUNNING: it fails as KeyboardInterrupt does,
            # and the worker stops with Interrupted's exit code (130, 143).
            self.interrupted = e
            record.update(state="failed", reason=str(e))
            raise KeyboardInterrupt from e
        except Exception as e:
            reason = one_line_reason(e)
            trial.set_user_attr("fail_reason", reason)
            record.update(state="failed", reason=reason)
            raise
        finally:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / TRIAL_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _save_config(cfg: DictConfig, overrides: list[str], run_dir: Path) -> None:
    """``.hydra/`` as a run of scripts/train.py has it: compare and report read these."""
    hydra_dir = run_dir / HYDRA_SUBDIR
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), hydra_dir / "overrides.yaml")
