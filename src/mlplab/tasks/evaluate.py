"""The evaluation task: test metrics of a checkpoint, and its predictions on the test split."""

from pathlib import Path

import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Checkpoint
from omegaconf import DictConfig
from torchmetrics.utilities.distributed import gather_all_tensors

from mlplab.config.schema import validate_config
from mlplab.errors import UserError
from mlplab.model.mlp_module import MLPModule
from mlplab.run.checkpoints import check_fits, load_checkpoint, resolve_ckpt_path
from mlplab.run.console_noise import quiet_dependencies
from mlplab.run.results import to_floats, write_metrics_json
from mlplab.tasks.components import build_callbacks, build_loggers, has_progress_bar


def load_model(cfg: DictConfig, ckpt_path: str) -> MLPModule:
    """The model as saved: sizes come from the checkpoint's hyperparameters, not from the config."""
    ckpt = load_checkpoint(ckpt_path)
    saved = ckpt.get("mlplab_module")  # the class it was trained as; only mlplab's own are taken from a file
    model_cls = get_class(saved if isinstance(saved, str) and saved.startswith("mlplab.model.") else cfg.model._target_)
    hparams = ckpt.get("hyper_parameters", {})
    model = model_cls(**hparams)
    if not isinstance(model, MLPModule):
        raise UserError(f"model._target_={cfg.model._target_}: not one of mlplab's LightningModules (mlplab.model)")
    check_fits(ckpt, model, ckpt_path)
    model.load_state_dict(ckpt["state_dict"])
    return model


def predictions_in_order(trainer: L.Trainer, batches: object) -> torch.Tensor | None:
    """The whole test split's predictions in sample order, on every rank (a collective under DDP).

    Each rank predicts its shard, samples ``rank, rank + world, …`` (:class:`BatchIndexSampler`, no padding),
    and every rank has at least one (the data module refuses a split smaller than the world).
    """
    local = [b for b in batches if isinstance(b, torch.Tensor)] if isinstance(batches, list) else []
    if not local:
        return None
    mine = torch.cat(local)
    if trainer.world_size == 1:
        return mine
    # NCCL gathers device tensors only; torchmetrics pads shards of different lengths for the gather.
    parts = [p.cpu() for p in gather_all_tensors(mine.to(trainer.strategy.root_device))]
    out = torch.empty(sum(len(p) for p in parts), *mine.shape[1:], dtype=mine.dtype)
    for rank, part in enumerate(parts):
        out[rank :: len(parts)] = part
    return out


def evaluate(cfg: DictConfig) -> dict[str, float]:
    validate_config(cfg)  # before anything is built or written
    output_dir = Path(cfg.paths.output_dir)
    quiet_dependencies()
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir)
    if ckpt_path is None:
        raise UserError("ckpt_path: give the checkpoint to evaluate, e.g. ckpt_path=logs/.../checkpoints/last.ckpt")
    model = load_model(cfg, ckpt_path)
    for dim in ("in_dim", "out_dim"):  # the net's sizes come from the checkpoint, the data's from the config
        saved, wanted = model.hparams.get(dim), cfg.data.get(dim)
        if saved is not None and wanted is not None and saved != wanted:
            raise UserError(
                f"data.{dim}={wanted}: the checkpoint's net has {dim}={saved}; allowed: the training run's data "
                f"overrides (e.g. experiment=iris, or data=file data.path=...), or data.{dim}={saved}"
            )
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    loggers = build_loggers(cfg.get("logger"))
    callbacks = build_callbacks(
        cfg.get("callbacks"), has_logger=bool(loggers), progress_bar=cfg.trainer.get("enable_progress_bar", True)
    )
    # data=file brings the training callbacks (conf/callbacks/table.yaml): a test saves no checkpoint, and
    # Lightning refuses a ModelCheckpoint with enable_checkpointing=False.
    callbacks = [c for c in callbacks if not isinstance(c, Checkpoint)]
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=loggers or False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=has_progress_bar(callbacks),
    )
    trainer.test(model, datamodule=datamodule)
    metrics = to_floats(trainer.callback_metrics)
    if trainer.is_global_zero:
        write_metrics_json(output_dir / "metrics.json", metrics)
    if cfg.get("save_predictions", True):
        preds = predictions_in_order(trainer, trainer.predict(model, datamodule=datamodule))
        if trainer.is_global_zero and preds is not None:
            torch.save(preds, output_dir / "predictions.pt")
            print(f"Predictions:   {output_dir / 'predictions.pt'} {tuple(preds.shape)}")
    print(f"Run directory: {output_dir}")
    for key, value in metrics.items():
        print(f"  {key:<16} {value:.6g}")
    return metrics
