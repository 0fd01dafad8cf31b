"""The training task: fit, test the best checkpoint, write metrics.json and the HParams summary."""

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from mlplab.callbacks.divergence import DivergenceGuard
from mlplab.callbacks.interrupt import InterruptCheckpoint
from mlplab.callbacks.lean import NoProfiler
from mlplab.callbacks.resume_state import ResumeState
from mlplab.config.schema import validate_config
from mlplab.config.tree import print_config_tree
from mlplab.model.summary import print_model_summary
from mlplab.run import run_dir_snapshot
from mlplab.run.checkpoint_io import SafeCheckpointIO
from mlplab.run.checkpoints import (
    check_epochs_left,
    check_fits,
    check_optimizer,
    load_checkpoint,
    not_applied_on_resume,
    resolve_ckpt_path,
)
from mlplab.run.console_noise import quiet_dependencies
from mlplab.run.results import flat_hparams, log_hparams_with_metrics, read_metrics_json, to_floats, write_metrics_json
from mlplab.run.run_dir import last_checkpoint
from mlplab.tasks.components import build_callbacks, build_loggers, has_progress_bar, tensorboard_loggers
from mlplab.tasks.mlflow_logging import log_summary


def make_trainer(
    cfg: DictConfig, output_dir: Path, loggers: list[Logger], callbacks: list[L.Callback], **overrides: Any
) -> L.Trainer:
    """The Trainer of ``cfg.trainer`` with this project's always-on safety parts (``make bench`` uses it too)."""
    # Always on: NaN/inf stops the run; Ctrl-C/SIGTERM save first; RNG and loader position are checkpointed.
    safety = [DivergenceGuard(), InterruptCheckpoint(last_checkpoint(output_dir)), ResumeState()]
    if cfg.trainer.get("enable_checkpointing") is False:  # the user's word over callbacks.model_checkpoint
        callbacks = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]
    if cfg.trainer.get("limit_val_batches") == 0:
        # Validation off: no val metric to stop early by or to pick a best checkpoint with (Lightning would
        # warn at every save, and EarlyStopping raise); last.ckpt is the run's checkpoint, and it is tested.
        callbacks = [c for c in callbacks if not isinstance(c, EarlyStopping)]
        for checkpoint in (c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor is not None):
            checkpoint.monitor, checkpoint.save_top_k = None, 0
    if cfg.trainer.get("profiler") is None:
        # Lightning's default records nothing either, through a context manager per hook call.
        overrides.setdefault("profiler", NoProfiler())
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=loggers or False,
        callbacks=[*callbacks, *safety],
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        plugins=[SafeCheckpointIO()],  # atomic writes, weights-only reads
        **{"enable_progress_bar": has_progress_bar(callbacks), **overrides},
    )
    return trainer


def build_model(cfg: DictConfig, datamodule: L.LightningDataModule) -> L.LightningModule:
    """``cfg.model``; sizes that neither it nor the data config gives are read from the data module first."""
    missing = [k for k in ("in_dim", "out_dim") if cfg.model.get(k) is None]
    if OmegaConf.select(cfg, "task.name") == "classification":  # the labels, for the HParams from the start
        missing.append("classes")
    if missing:
        datamodule.setup("fit")
        sizes = getattr(datamodule, "sizes", {})
        model: L.LightningModule = instantiate(cfg.model, **{k: v for k, v in sizes.items() if k in missing})
    else:
        model = instantiate(cfg.model)
    with open_dict(cfg):  # sizes read from the data go into the saved config and the HParams too
        for key in ("in_dim", "out_dim"):
            if cfg.data.get(key) is None:
                cfg.data[key] = int(model.hparams[key])
    saved = Path(cfg.paths.output_dir) / ".hydra" / "config.yaml"
    if saved.is_file() and getattr(rank_zero_only, "rank", 0) == 0:
        OmegaConf.save(cfg, saved)
    return model


def train(cfg: DictConfig, callbacks: Sequence[L.Callback] = ()) -> dict[str, float]:
    """Runs one experiment described by ``cfg`` and returns its final metrics; ``callbacks`` join the
    configured ones (scripts/tune.py's pruning)."""
    validate_config(cfg)  # before anything is built or written
    output_dir = Path(cfg.paths.output_dir)
    quiet_dependencies()
    if getattr(rank_zero_only, "rank", 0) == 0:
        print_config_tree(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)

    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir, training=True)
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    model = build_model(cfg, datamodule)
    if getattr(rank_zero_only, "rank", 0) == 0:
        print_model_summary(model, cfg.get("model_summary_depth", 2))
    purge_step = None
    if ckpt_path:
        resumed = load_checkpoint(ckpt_path)  # read once here; Lightning reads it again to restore
        check_fits(resumed, model, ckpt_path)
        check_optimizer(resumed, model, ckpt_path)
        check_epochs_left(resumed, cfg.trainer.get("max_epochs"), ckpt_path)
        if (kept := not_applied_on_resume(resumed, model)) and getattr(rank_zero_only, "rank", 0) == 0:
            print(f"ckpt_path={ckpt_path}: resumes its saved optimizer and scheduler; not applied: {', '.join(kept)}")
        # Resuming writes into the run's own checkpoint dir: ModelCheckpoint's "not empty" warning is moot.
        warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
        # A checkpoint from elsewhere (a warm start, a moved run dir): Lightning says this run's checkpoints
        # track their own best from here, which is what a new run dir means (docs/runs-and-resume.md).
        warnings.filterwarnings("ignore", message=r".*The dirpath has changed from.*")
        # TensorBoard hides what the dead run logged after its checkpoint (step S logs at S-1 and before,
        # the next step at S), so steps neither repeat nor go missing.
        purge_step = int(resumed.get("global_step", 0))
    loggers = build_loggers(cfg.get("logger"), purge_step)
    configured = build_callbacks(
        cfg.get("callbacks"), has_logger=bool(loggers), progress_bar=cfg.trainer.get("enable_progress_bar", True)
    )
    trainer = make_trainer(cfg, output_dir, loggers, [*configured, *callbacks])

    metrics: dict[str, float] = {}
    if cfg.get("train", True):
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        run_dir_snapshot.forget()  # trained: a later error leaves the run dir as it is
        metrics.update(to_floats(trainer.callback_metrics))
    if ckpt_path and (done := output_dir / "metrics.json").is_file():
        # A resume with nothing left to train logs no val/* or train/loss again: the run's last ones stay.
        metrics = {**read_metrics_json(done), **metrics}
    checkpoint = trainer.checkpoint_callback if isinstance(trainer.checkpoint_callback, ModelCheckpoint) else None
    best_path = checkpoint.best_model_path if checkpoint else ""
    if checkpoint is not None and checkpoint.best_model_score is not None:
        metrics[f"{checkpoint.monitor}_best"] = float(checkpoint.best_model_score)
        metrics["best_epoch"] = float(load_checkpoint(best_path)["epoch"] + 1)
    if cfg.get("test", True):
        # Test the best checkpoint; without one (no checkpoint callback, or test-only) the current weights.
        test_ckpt = best_path or (ckpt_path if not cfg.get("train", True) else None)
        trainer.test(model, datamodule=datamodule, ckpt_path=test_ckpt, weights_only=True)
        metrics.update(to_floats(trainer.callback_metrics))
    metrics["epoch"] = float(trainer.current_epoch)
    metrics["global_step"] = float(trainer.global_step)

    if trainer.is_global_zero:
        _report(cfg, trainer, metrics, output_dir, best_path)
    return metrics


def _report(cfg: DictConfig, trainer: L.Trainer, metrics: dict[str, float], output_dir: Path, best: str) -> None:
    for tb in tensorboard_loggers(trainer.loggers):
        new = {k: v for k, v in metrics.items() if k.endswith("_best") or k == "best_epoch"}
        shown = {k: v for k, v in metrics.items() if "/" in k}
        log_hparams_with_metrics(tb, flat_hparams(cfg), shown, new, step=trainer.global_step)
    write_metrics_json(output_dir / "metrics.json", metrics)
    print(f"\nRun directory: {output_dir}")
    if best:
        last = ", last: last.ckpt" if last_checkpoint(output_dir).is_file() else ""
        print(f"Checkpoints:   {Path(best).parent} (best: {Path(best).name}{last})")
    for key, value in metrics.items():
        print(f"  {key:<16} {value:.6g}")
    if tensorboard_loggers(trainer.loggers):
        print(f"TensorBoard:   .venv/bin/tensorboard --logdir {output_dir} --host 127.0.0.1  (or: make tensorboard)")
    log_summary(trainer.loggers, flat_hparams(cfg), metrics, best, trainer.global_step)  # logger=mlflow
