"""End-of-run results: ``metrics.json`` and the HParams-tab summary with the final metrics attached."""

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams

from mlplab.compat.tensorboard import file_writer

# Config parts that describe the experiment (not where files go or how progress is shown).
HPARAM_GROUPS = ("data", "model", "optimizer", "scheduler", "trainer", "seed")


def to_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(metrics.items())}


def write_metrics_json(path: Path, metrics: Mapping[str, float]) -> None:
    # NaN/inf are not JSON: they become null so the file always parses.
    clean = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(clean, indent=2) + "\n")
    tmp.replace(path)


def read_metrics_json(path: Path) -> dict[str, float]:
    """What :func:`write_metrics_json` wrote, its nulls left out."""
    return {k: float(v) for k, v in json.loads(path.read_text()).items() if v is not None}


def flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """``{"optimizer.lr": 0.01, ...}``: scalars as they are, everything else as text."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in ("_partial_", "optimizer", "scheduler") or prefix != "model":
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, (bool, int, float, str)):
            out[prefix] = node
        else:
            out[prefix] = str(node)

    for group in HPARAM_GROUPS:
        node = cfg.get(group)
        walk(group, OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node)
    return out


def log_hparams_with_metrics(
    logger: TensorBoardLogger,
    params: dict[str, Any],
    metrics: Mapping[str, float],
    new_scalars: Mapping[str, float],
    step: int,
) -> None:
    """Writes the HParams plugin data once, at the end, so runs compare on their real final metrics.

    The plugin reads each metric's value from the run's scalar of the same name; ``new_scalars`` are
    final values not logged during training (e.g. ``val/loss_best``), written now at ``step``.
    """
    finite = {k: v for k, v in new_scalars.items() if math.isfinite(v)}
    if finite:
        logger.log_metrics(finite, step=step)
    writer = file_writer(logger.experiment)
    for summary in hparams(params, dict(metrics)):
        writer.add_summary(summary)
    logger.experiment.flush()
