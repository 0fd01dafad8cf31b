"""Hydra callbacks of the train/eval configs: checks before Hydra creates the run directory (torch-free)."""

import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mlplab.errors import EXIT_USER_ERROR, UserError
from mlplab.run.run_dir import RUN_OUTPUTS, last_checkpoint


def refuse_taken_run_dir(run_dir: Path, ckpt_path: Any, can_resume: bool) -> None:
    """A finished or interrupted run's dir is only written to again to resume it (train, ckpt_path=last)."""
    taken = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    has_last = last_checkpoint(run_dir).is_file()
    resuming = isinstance(ckpt_path, str) and (
        (ckpt_path == "last" and has_last) or Path(ckpt_path).absolute().is_relative_to(run_dir)
    )
    if taken and not (can_resume and resuming):
        # ckpt_path=last there would start from scratch over the run (saved with save_last=false).
        resume = "ckpt_path=last" if has_last else f"ckpt_path={last_checkpoint(run_dir).parent}/<a .ckpt>"
        advice = f"resume it with {resume}, or choose" if can_resume else "its outputs stay; choose"
        raise UserError(
            f"hydra.run.dir={run_dir}: already holds a run ({', '.join(taken)}); {advice} a new hydra.run.dir"
        )


def slurm_missing(config: DictConfig) -> str | None:
    """Why a sweep on SLURM cannot start here (no ``srun``: not a cluster's node), or None."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
    if not target.endswith(".SlurmLauncher") or shutil.which("srun"):
        return None
    return (
        "hydra/launcher=slurm: srun not found, this machine is not part of a SLURM cluster; run the sweep from "
        "the cluster's login node, or try it here with hydra/launcher=slurm_local"
    )


def taken_sweep_dir(config: DictConfig) -> str | None:
    """Why a sweep would write over runs of an earlier one in its ``hydra.sweep.dir`` (unless it resumes them)."""
    sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir", default="")))
    runs = [p for p in sweep_dir.glob("*/*") if p.name in RUN_OUTPUTS] if str(sweep_dir) not in ("", ".") else []
    if not runs or OmegaConf.select(config, "ckpt_path", default=None) == "last":
        return None
    taken = ", ".join(sorted({str(p.relative_to(sweep_dir)) for p in runs})[:3])
    advice = "resume them with ckpt_path=last, or choose a new hydra.sweep.dir"
    return f"hydra.sweep.dir={sweep_dir}: already holds runs ({taken}, …); {advice}"


class ValidateConfig(Callback):
    """Before a single run: the config is valid, the run dir new or resumed. Before a sweep: it can run here."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Before the sweep dir is made; submitit would fail at its first job, a job would write over a run.
        if error := slurm_missing(config) or taken_sweep_dir(config):
            print(f"error: {error}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlplab.config.schema import validate_config
        from mlplab.run import run_dir_snapshot
        from mlplab.run.exit_codes import run_reporting_errors

        def check() -> None:
            HydraConfig.instance().set_config(config)  # Hydra does it only as the job starts; ${hydra:...} needs it
            if not str(config.hydra.run.dir).strip():  # Path("") is the working directory: the repo's root
                raise UserError("hydra.run.dir is empty; allowed: a directory for the run, e.g. logs/my_run")
            run_dir = Path(str(config.hydra.run.dir)).absolute()
            run_dir_snapshot.take(run_dir)  # before Hydra writes .hydra/ and the log into it
            task_cfg = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
            task_cfg.paths.output_dir = str(run_dir)  # Hydra sets runtime.output_dir only as the job starts
            # Only the train task resumes; an eval into a training run's dir would overwrite its metrics.
            refuse_taken_run_dir(run_dir, OmegaConf.select(task_cfg, "ckpt_path"), can_resume="train" in task_cfg)
            validate_config(task_cfg)

        run_reporting_errors(check)
