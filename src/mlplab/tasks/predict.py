"""Predictions of a checkpoint's model on the samples in a file: ``.csv``, ``.npy`` or ``.pt`` in and out."""

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from mlplab.data.readers import check_values, read_file
from mlplab.errors import UserError
from mlplab.run.checkpoints import resolve_ckpt_path
from mlplab.tasks.evaluate import load_model

OUTPUT_FORMATS = (".csv", ".npy", ".pt")


def read_inputs(path: Path, in_dim: int) -> Tensor:
    """The samples in ``path`` as float32 ``(n, in_dim)``; errors name the file and the expected shape."""
    contents = read_file(path, "input")
    array = np.asarray(contents.x)
    if array.ndim != 2 or array.shape[1] != in_dim:
        raise UserError(
            f"input={path}: samples of shape {tuple(array.shape)}, expected (n, {in_dim}): "
            f"the checkpoint's model takes in_dim={in_dim} features per sample (one row each)"
        )
    if len(array) == 0:
        raise UserError(f"input={path}: holds no samples")
    check_values(f"input={path}", "inputs", array)
    return torch.as_tensor(array, dtype=torch.float32)


def write_outputs(path: Path, predictions: Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        header = ",".join(f"y{i}" for i in range(predictions.shape[1]))
        np.savetxt(path, predictions.numpy(), delimiter=",", header=header, comments="", fmt="%.8g")
    elif path.suffix == ".npy":
        np.save(path, predictions.numpy())
    else:
        torch.save(predictions, path)


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
    in_dim = int(model.hparams["in_dim"])
    x = read_inputs(Path(cfg.input), in_dim)
    device = pick_device(cfg.device)
    net = model.net
    assert isinstance(net, nn.Module)
    predictions = predict_batched(net, x, cfg.batch_size, device)
    write_outputs(output, predictions)
    print(f"Predictions: {output} {tuple(predictions.shape)} from {ckpt_path} on {device}")
    return predictions
