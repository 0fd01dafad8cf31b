"""Checks a composed config before any work: unknown keys, wrong types, out-of-range values, missing devices.

Run by the Hydra callback ``mlplab.run.hydra_callbacks.ValidateConfig`` before the run dir exists, and again
at the start of each task (multirun jobs, direct calls). The first problem raises a UserError naming
the key, the value and what is allowed.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from mlplab.config.devices import check_devices
from mlplab.config.target_signature import check_target_node
from mlplab.errors import UserError, needs_a_value

Check = Callable[[Any], bool]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def positive_int(v: Any) -> bool:
    return _int(v) and v >= 1


POSITIVE = (positive_int, "a positive integer")
POSITIVE_OR_NULL = (lambda v: v is None or positive_int(v), "a positive integer, or null")
FRACTION = (lambda v: _num(v) and 0 <= v <= 1, "a number from 0 to 1")
NON_NEGATIVE = (lambda v: _num(v) and v >= 0, "a number >= 0")

RULES: dict[str, tuple[Check, str]] = {
    "seed": (
        lambda v: v is None or (_int(v) and 0 <= v < 2**32),
        "an integer from 0 to 4294967295, or null for unseeded",
    ),
    "ckpt_path": (lambda v: v is None or isinstance(v, str), "null, last, or a path to a .ckpt file"),
    # A folder under logs/: empty would put runs straight in logs/runs/, beside every task's folder.
    "task_name": (
        lambda v: isinstance(v, str) and v.strip() != "" and "/" not in v and v not in (".", ".."),
        "a non-empty name without '/'",
    ),
    "train": (lambda v: isinstance(v, bool), "true or false"),
    "test": (lambda v: isinstance(v, bool), "true or false"),
    "data.batch_size": (POSITIVE_OR_NULL[0], "a positive integer, or null for full batch"),
    "data.eval_batch_size": (POSITIVE_OR_NULL[0], "a positive integer, or null for data.batch_size"),
    "data.num_samples": POSITIVE,
    "data.in_dim": POSITIVE,
    "data.out_dim": POSITIVE,
    "data.noise_std": NON_NEGATIVE,
    "data.train_fraction": (lambda v: _num(v) and 0 < v <= 1, "a number above 0, up to 1"),
    "data.val_fraction": FRACTION,
    "data.test_fraction": FRACTION,
    "model.hidden_dim": POSITIVE,
    "optimizer.lr": (lambda v: _num(v) and v > 0, "a positive number, e.g. 0.01"),
    "optimizer.momentum": (lambda v: _num(v) and 0 <= v < 1, "a number from 0 up to (not incl.) 1"),
    "optimizer.weight_decay": NON_NEGATIVE,
    "trainer.max_epochs": (lambda v: v is None or positive_int(v) or v == -1, "a positive integer, or -1 for no limit"),
    "trainer.num_nodes": POSITIVE,
    "trainer.check_val_every_n_epoch": POSITIVE_OR_NULL,
    "trainer.log_every_n_steps": POSITIVE,
    "trainer.accumulate_grad_batches": POSITIVE,
    "trainer.gradient_clip_val": (lambda v: v is None or (_num(v) and v >= 0), "a number >= 0, or null"),
    "trainer.strategy": (
        # Lightning's multiprocessing launcher hands back only the weights: the run's epoch, step and
        # checkpoint state would be lost in the process that reports them.
        lambda v: (
            not any(
                word in str(v.get("start_method", "popen") if isinstance(v, dict) else v)
                for word in ("spawn", "fork", "notebook")
            )
        ),
        "a strategy that starts its processes by launching the script (auto, ddp, …), e.g. trainer=ddp; "
        "not ddp_spawn/ddp_fork/ddp_notebook",
    ),
    "trainer.use_distributed_sampler": (
        lambda v: v is False,
        "false (mlplab's data modules give each process its share of every epoch themselves)",
    ),
}


def _get(tree: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, every interpolation resolved; ``???`` and broken references are errors."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as e:
        raise needs_a_value(e.full_key) from None
    except InterpolationResolutionError as e:
        raise UserError(f"{e.full_key}: {str(e).splitlines()[0]}") from None
    assert isinstance(tree, dict)
    tree.pop("hydra", None)
    return {str(k): v for k, v in tree.items()}


def _check_rules(tree: dict[str, Any]) -> None:
    for key, (check, allowed) in RULES.items():
        present, value = _get(tree, key)
        if present and not check(value):
            raise UserError(f"{key}={value!r} is invalid; allowed: {allowed}")
    data = tree.get("data")
    if isinstance(data, dict) and all(f"{s}_fraction" in data for s in ("train", "val", "test")):
        fractions = [data[f"{s}_fraction"] for s in ("train", "val", "test")]
        if abs(sum(fractions) - 1.0) > 1e-6:
            raise UserError(
                f"data.train_fraction/val_fraction/test_fraction={fractions}: sum to {sum(fractions):g}; "
                "allowed: fractions that sum to 1"
            )
    if isinstance(data, dict):
        _check_needed_splits(data, training=bool(tree.get("train", False)), testing=bool(tree.get("test", True)))
    if isinstance(data, dict) and "num_samples" in data:
        _check_split_sizes(data)
    for dim in ("in_dim", "out_dim"):
        (has_model, model_dim), (has_data, data_dim) = _get(tree, f"model.{dim}"), _get(tree, f"data.{dim}")
        if has_model and has_data and model_dim != data_dim:
            raise UserError(
                f"model.{dim}={model_dim}: the data has data.{dim}={data_dim}; allowed: the same size (set data.{dim}, "
                f"model.{dim} follows it)"
            )
    loss = _get(tree, "model.loss")
    if loss[0]:
        from mlplab.model.losses import LOSSES

        if loss[1] not in LOSSES:
            raise UserError(f"model.loss={loss[1]!r}: unknown loss; allowed: {', '.join(LOSSES)}")


def _check_needed_splits(data: dict[str, Any], training: bool, testing: bool) -> None:
    """Training validates (val/loss picks the best checkpoint); testing needs a test split."""
    if training and data.get("val_fraction") == 0:
        raise UserError(
            "data.val_fraction=0 is invalid for training: validation computes val/loss, which picks the best "
            "checkpoint; allowed: a fraction above 0"
        )
    if testing and data.get("test_fraction") == 0:
        raise UserError(
            "data.test_fraction=0: the test split would be empty; allowed: a fraction above 0, or test=false"
        )


def _check_split_sizes(data: dict[str, Any]) -> None:
    """Synthetic data: every split gets samples, and training gets at least one batch (the data module's sizes)."""
    n = data["num_samples"]
    n_train = round(data.get("train_fraction", 0.8) * n)
    n_val = round(data.get("val_fraction", 0.1) * n)
    sizes = {"train": n_train, "val": n_val, "test": n - n_train - n_val}
    for split, size in sizes.items():
        if size <= 0 and data.get(f"{split}_fraction", 0) > 0:
            raise UserError(
                f"data.num_samples={n}: the {split} split would be empty; allowed: more samples, or a larger "
                f"data.{split}_fraction"
            )
    for split in ("val", "test"):
        if sizes[split] == 1:
            raise UserError(
                f"data.num_samples={n}: the {split} split would have 1 sample, and {split}/r2 needs at least 2; "
                f"allowed: more samples, or a larger data.{split}_fraction"
            )
    batch = data.get("batch_size")
    if data.get("drop_last") and batch is not None and n_train < batch:
        raise UserError(
            f"data.batch_size={batch}: the train split has {n_train} samples and data.drop_last=true drops the "
            f"partial batch, so no step would run; allowed: data.batch_size <= {n_train}, or data.drop_last=false"
        )


def _check_files(tree: dict[str, Any]) -> None:
    present, path = _get(tree, "data.path")
    if present and isinstance(path, str) and not Path(path).is_file():
        raise UserError(f"data.path={path}: no such file")
    ckpt = tree.get("ckpt_path")
    training = "train" in tree  # eval reads a checkpoint in a new run dir: no null, no last of its own
    if ckpt == "last" and not training:
        raise UserError(
            "ckpt_path=last: eval runs in a new directory, with no last.ckpt of its own; allowed: the path of a "
            ".ckpt file, e.g. ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt"
        )
    if isinstance(ckpt, str) and ckpt != "last" and not Path(ckpt).is_file():
        allowed = "null, last, or a path to a .ckpt file" if training else "the path of a .ckpt file"
        raise UserError(f"ckpt_path={ckpt}: no such file; allowed: {allowed}")


def validate_config(cfg: DictConfig) -> None:
    """Raises UserError for the first problem found; returns quietly for a config that can run."""
    tree = resolved(cfg)
    _check_rules(tree)
    for key, node in tree.items():
        if not isinstance(node, dict) or key == "paths":
            continue
        if "_target_" in node:
            check_target_node(key, node)
        else:  # name -> _target_ mappings: callbacks, logger
            for name, entry in node.items():
                if isinstance(entry, dict) and "_target_" in entry:
                    check_target_node(f"{key}.{name}", entry)
    if isinstance(tree.get("trainer"), dict):
        check_devices(tree["trainer"])
    _check_files(tree)
