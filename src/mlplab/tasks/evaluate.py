"""The evaluation task: test metrics of a checkpoint, and its predictions on the test split."""

from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import Checkpoint
from omegaconf import DictConfig
from torchmetrics.utilities.distributed import gather_all_tensors

from mlplab.config.schema import validate_config
from mlplab.errors import UserError
from mlplab.model.classifier import Classifier
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


def data_as_trained(cfg: DictConfig, ckpt: dict[str, Any], model: MLPModule) -> L.LightningDataModule:
    """The config's data, read as the checkpoint's run read it: a table's columns by their names (in any order),
    the same task, sizes and labels; what cannot match is refused in one line."""
    saved = {"feature_columns": ckpt.get("mlplab_feature_names"), "target_columns": ckpt.get("mlplab_target_names")}
    data = instantiate(cfg.data, **{k: v for k, v in saved.items() if v and k in cfg.data and cfg.data[k] is None})
    task = "classification" if isinstance(model, Classifier) else "regression"
    if getattr(data, "task", task) != task:
        raise UserError(f"task={data.task}: the checkpoint's model is a {task} model; allowed: task={task}")
    data.setup("test")
    where = getattr(data, "source", "data")
    sizes: dict[str, Any] = getattr(data, "sizes", {})
    for dim in ("in_dim", "out_dim") if task == "regression" else ("in_dim",):
        if dim in sizes and sizes[dim] != model.hparams[dim]:
            raise UserError(
                f"{where}: {sizes[dim]} {'features' if dim == 'in_dim' else 'targets'}, where the checkpoint's net "
                f"takes {dim}={model.hparams[dim]}; allowed: the training run's data (its overrides)"
            )
    for key, attr in (("feature_columns", "feature_names"), ("target_columns", "target_names")):
        names, used = saved[key], getattr(data, attr, None)
        if names and used and list(used) != list(names):  # data.<key> given, in another order
            raise UserError(f"data.{key}: {list(used)}, where the model has {names}; allowed: null (by name)")
    classes, known = sizes.get("classes"), model.hparams.get("classes")
    if classes is not None and known is not None and all(isinstance(k, str) for k in known):
        classes = [str(c) for c in classes]  # trained on labels such as a, 1, 2 (text); this file's 1, 2 read as ints
    if classes is not None and known is not None and list(classes) != list(known):
        if unknown := [c for c in classes if c not in known]:
            raise UserError(f"{where}: labels {unknown} the checkpoint's model never saw; allowed: {known}")
        index = torch.tensor([list(known).index(c) for c in classes])  # the file's class indices as the model's
        for split in data.splits.values():
            split.y = index.to(split.y.device)[split.y]
        data.classes = list(known)
    return data


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
    datamodule = data_as_trained(cfg, load_checkpoint(ckpt_path), model)
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
    if trainer.is_global_zero:  # under DDP every rank has the same synced metrics: one report
        print(f"Run directory: {output_dir}")
        for key, value in metrics.items():
            print(f"  {key:<16} {value:.6g}")
    return metrics
