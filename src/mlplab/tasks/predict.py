"""Predictions of a checkpoint's model on the samples in a file: ``.csv``, ``.npy`` or ``.pt`` in and out."""

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from mlplab.data.readers import check_values, numeric, read_file
from mlplab.errors import UserError
from mlplab.model.mlp_module import MLPModule
from mlplab.run.checkpoints import load_checkpoint, resolve_ckpt_path
from mlplab.tasks.evaluate import load_model

OUTPUT_FORMATS = (".csv", ".npy", ".pt")


def read_inputs(path: Path, in_dim: int, names: list[str] | None = None) -> Tensor:
    """The samples in ``path`` as float32 ``(n, in_dim)``. A CSV with a header gives the checkpoint's feature
    columns by name (any order; other columns, such as the target, are ignored)."""
    contents = read_file(path, "input", names=names or ())
    array = np.asarray(contents.x)
    if names and contents.header:
        missing = [n for n in names if n not in contents.header]
        if missing:
            raise UserError(
                f"input={path}: no column {', '.join(map(repr, missing))}; the checkpoint's model takes the "
                f"columns {names} (by name, in any order)"
            )
        array = array[:, [contents.header.index(n) for n in names]]
    if array.ndim != 2 or array.shape[1] != in_dim:
        raise UserError(
            f"input={path}: samples of shape {tuple(array.shape)}, expected (n, {in_dim}): "
            f"the checkpoint's model takes in_dim={in_dim} features per sample (one row each)"
        )
    if len(array) == 0:
        raise UserError(f"input={path}: holds no samples")
    array = numeric(array, f"input={path}", "inputs", names)
    check_values(f"input={path}", "inputs", array)
    return torch.as_tensor(array, dtype=torch.float32)


def write_outputs(path: Path, columns: dict[str, np.ndarray], labels: bool = False) -> None:
    """One column per target, or (``labels``) the label and a probability per class; rows in the input's order.
    ``.npy``: regression's ``(n, targets)`` array, or the labels. ``.pt``: that array, or a dict of the columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            # Labels (str, int) as the file wrote them; float32 outputs to the digits they hold.
            cells = [[f"{v:.8g}" if isinstance(v, float) else str(v) for v in col.tolist()] for col in columns.values()]
            writer.writerows(zip(*cells, strict=True))
    elif not labels:
        table = np.stack(list(columns.values()), axis=1)
        np.save(path, table) if path.suffix == ".npy" else torch.save(torch.as_tensor(table), path)
    elif path.suffix == ".npy":
        np.save(path, next(iter(columns.values())))
    else:  # labels as a list (torch.load with weights_only reads lists of str and int), probabilities as tensors
        torch.save({k: torch.as_tensor(v) if v.dtype.kind == "f" else v.tolist() for k, v in columns.items()}, path)


def pick_device(name: str) -> torch.device:
    """``auto``: a GPU when there is one, else the CPU; or any torch device name (``cpu``, ``cuda:1``, ``mps``)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as e:
        raise UserError(
            f"device={name}: not usable here ({str(e).splitlines()[0]}); use auto, cpu, cuda or mps"
        ) from None
    return device


@torch.inference_mode()
def predict_batched(net: nn.Module, x: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """``net(x)`` in batches of ``batch_size`` rows on ``device``; the result on the CPU."""
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size} must be a positive integer")
    net = net.to(device).eval()
    outputs = [net(chunk.to(device, non_blocking=True)).cpu() for chunk in x.split(batch_size)]
    return torch.cat(outputs)


def predict(cfg: DictConfig) -> Tensor:
    """Reads ``cfg.input``, predicts with ``cfg.ckpt_path``'s model, writes ``cfg.output``."""
    output = Path(cfg.output)
    if output.suffix not in OUTPUT_FORMATS:
        raise UserError(f"output={output}: unsupported format {output.suffix!r}; allowed: {', '.join(OUTPUT_FORMATS)}")
    source = Path(cfg.input)
    if output.resolve() == source.resolve() or (output.exists() and source.exists() and output.samefile(source)):
        raise UserError(
            f"output={output}: the input file itself, which predictions would overwrite; allowed: another path"
        )
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, Path.cwd())
    if ckpt_path is None:
        raise UserError("ckpt_path: give the checkpoint to predict with, e.g. ckpt_path=logs/.../last.ckpt")
    model = load_model(cfg, ckpt_path)
    probabilities, labels = bool(cfg.get("probabilities", False)), model.hparams.get("classes") is not None
    if probabilities and not labels:
        raise UserError("probabilities=true: the checkpoint's model is a regression model; allowed: false")
    if probabilities and output.suffix == ".npy":
        raise UserError(f"output={output}: a .npy file holds one array, the labels; allowed: .csv or .pt")
    ckpt = load_checkpoint(ckpt_path)
    x = read_inputs(Path(cfg.input), int(model.hparams["in_dim"]), ckpt.get("mlplab_feature_names"))
    device = pick_device(cfg.device)
    predictions = predict_batched(model.predictor(), x, cfg.batch_size, device)
    columns = _columns(model, ckpt, predictions, probabilities)
    write_outputs(output, columns, labels=labels)
    print(f"Predictions: {output}, {len(predictions)} rows of {', '.join(columns)}; from {ckpt_path} on {device}")
    return predictions


def _columns(model: MLPModule, ckpt: dict[str, Any], out: Tensor, probabilities: bool) -> dict[str, np.ndarray]:
    """Regression: one column per target, named as in the training file. Classification: the predicted label
    as the file wrote it, and with ``probabilities`` one ``p_<label>`` column per class."""
    names = ckpt.get("mlplab_target_names")
    classes = model.hparams.get("classes")
    if classes is None:
        names = names if names and len(names) == out.shape[1] else [f"y{i}" for i in range(out.shape[1])]
        return {name: out[:, i].numpy() for i, name in enumerate(names)}
    labels = np.array(classes)[out.argmax(dim=1).numpy()]
    columns = {(names or ["label"])[0]: labels}
    if probabilities:
        p = out.softmax(dim=1).numpy()
        if (label := next(iter(columns))) in (named := [f"p_{c}" for c in classes]):  # the labels would be lost
            raise UserError(
                f"probabilities=true: the label column {label!r} has the name of a class's probability column; "
                "allowed: probabilities=false"
            )
        columns.update({name: p[:, i] for i, name in enumerate(named)})
    return columns
