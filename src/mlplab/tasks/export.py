"""Export a checkpoint's net (ONNX, torch.export, TorchScript), then check the file against PyTorch.

Every export is loaded back and run on random batches of several sizes (the batch dimension is
dynamic); if any output differs from the PyTorch model's by more than ``tolerance`` the export fails.
"""

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from mlplab.errors import UserError
from mlplab.extras import require
from mlplab.model.mlp_module import MLPModule
from mlplab.run.checkpoints import load_checkpoint, resolve_ckpt_path
from mlplab.tasks.evaluate import load_model

Runner = Callable[[Tensor], Tensor]
SUFFIXES = {"onnx": ".onnx", "torch_export": ".pt2", "torchscript": ".pt"}
CHECK_BATCH_SIZES = (1, 7, 64)


class ExportMismatchError(UserError):
    """The exported model's outputs differ from the PyTorch model's by more than the tolerance."""


def _export_onnx(net: nn.Module, example: Tensor, path: Path, about: dict[str, str]) -> Runner:
    import onnx
    import onnxruntime

    # The dynamo exporter warns once per torchvision op it cannot register (this project has none),
    # and its graph passes log each step at INFO: neither is anything to act on.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    for name in ("onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.WARNING)
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        net,
        (example,),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_shapes=({0: batch},),
        dynamo=True,
        verbose=False,
        # One self-contained file (weights inside): fine below ONNX's 2 GB limit, far above these nets.
        external_data=False,
    )
    saved = onnx.load(str(path))
    onnx.helper.set_model_props(saved, about)  # metadata_props: onnxruntime's custom_metadata_map
    onnx.save(saved, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(["y"], {"x": x.numpy()})[0])


def _export_torch_export(net: nn.Module, example: Tensor, path: Path, about: dict[str, str]) -> Runner:
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path), extra_files=about)
    loaded = torch.export.load(str(path)).module()
    return lambda x: loaded(x)


def _export_torchscript(net: nn.Module, example: Tensor, path: Path, about: dict[str, str]) -> Runner:
    # PyTorch deprecates TorchScript (its DeprecationWarning says so); torch_export is the successor.
    scripted = torch.jit.trace(net, example)
    scripted.save(str(path), _extra_files=about)
    loaded = torch.jit.load(str(path))
    return lambda x: loaded(x)


EXPORTERS: dict[str, Callable[[nn.Module, Tensor, Path, dict[str, str]], Runner]] = {
    "onnx": _export_onnx,
    "torch_export": _export_torch_export,
    "torchscript": _export_torchscript,
}


@torch.inference_mode()
def check_outputs(net: nn.Module, runner: Runner, in_dim: int, tolerance: float, label: str) -> float:
    """The largest |exported - PyTorch| over random batches; raises if it is above ``tolerance``."""
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for n in CHECK_BATCH_SIZES:
        x = torch.randn(n, in_dim, generator=g)
        expected, got = net(x), runner(x)
        if got.shape != expected.shape:
            raise ExportMismatchError(f"{label}: batch of {n} gives shape {tuple(got.shape)}, PyTorch {expected.shape}")
        # Relative to the outputs' size where they are large: raw units (a target in the hundreds) have
        # float32 rounding far above 1e-5 in absolute terms.
        scale = max(1.0, expected.abs().max().item())
        worst = max(worst, (got - expected).abs().max().item() / scale)
    if not worst <= tolerance:
        raise ExportMismatchError(
            f"{label}: outputs differ from the PyTorch model by up to {worst:.3g} (> tolerance {tolerance:g})"
        )
    return worst


def describe(model: MLPModule, ckpt: dict[str, Any], probabilities: bool) -> dict[str, str]:
    """What the exported file's columns are, as JSON text: ONNX metadata, or extra files of .pt2/.pt."""
    classes = model.hparams.get("classes")
    inputs = ckpt.get("mlplab_feature_names") or [f"x{i}" for i in range(int(model.hparams["in_dim"]))]
    outputs = classes if classes is not None else ckpt.get("mlplab_target_names")
    outputs = outputs or [f"y{i}" for i in range(int(model.hparams["out_dim"]))]
    y = "raw units" if classes is None else "probabilities" if probabilities else "logits"
    return {"mlplab_inputs": json.dumps(inputs), "mlplab_outputs": json.dumps(outputs), "mlplab_y": y}


def export(cfg: DictConfig) -> Path:
    """Exports ``cfg.ckpt_path``'s net as ``cfg.format`` to ``cfg.output`` and checks it; returns the path."""
    fmt = str(cfg.format)
    if fmt not in EXPORTERS:
        raise UserError(f"format={fmt}: not a known export format; allowed: {', '.join(EXPORTERS)}")
    if fmt == "onnx":
        require("export", "format=onnx")  # onnx, onnxscript (the dynamo exporter), onnxruntime (the check)
    output = Path(cfg.output) if cfg.get("output") else Path(f"model{SUFFIXES[fmt]}")
    if output.suffix != SUFFIXES[fmt]:
        # torch.export.load refuses other names; the others follow suit so a file's name tells its format.
        raise UserError(f"output={output}: format={fmt} writes a {SUFFIXES[fmt]} file; name it so")
    if not (isinstance(cfg.tolerance, (int, float)) and cfg.tolerance > 0):
        raise UserError(f"tolerance={cfg.tolerance}: allowed: a positive number, e.g. 1e-5")
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, Path.cwd())
    if ckpt_path is None:
        raise UserError("ckpt_path: give the checkpoint to export, e.g. ckpt_path=logs/.../last.ckpt")
    model = load_model(cfg, ckpt_path)
    # Raw inputs in, raw outputs out: the standardization is part of the exported graph. Classification
    # gives logits, or with probabilities=true their softmax.
    net = model.predictor()
    if cfg.get("probabilities", False):
        if model.hparams.get("classes") is None:
            raise UserError("probabilities=true: the checkpoint's model is a regression model; allowed: false")
        net = nn.Sequential(net, nn.Softmax(dim=1))
    net = net.eval()
    in_dim = int(model.hparams["in_dim"])
    about = describe(model, load_checkpoint(ckpt_path), bool(cfg.get("probabilities", False)))
    output.parent.mkdir(parents=True, exist_ok=True)
    # A batch of 2: with 1 the exporters could specialize the batch dimension to a constant.
    example = torch.randn(2, in_dim)
    # Written beside the output and moved over it once checked: a failed export leaves what was there.
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    try:
        with warnings.catch_warnings():
            # lightning 2.6 and torch.export: torch's own deprecated LeafSpec check; nothing to act on.
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
            runner = EXPORTERS[fmt](net, example, partial, about)
        worst = check_outputs(net, runner, in_dim, float(cfg.tolerance), f"format={fmt} ({output})")
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    print(f"Exported: {output} ({fmt}, input x: (batch, {in_dim}) float32, output y)")
    x, y = about["mlplab_inputs"], about["mlplab_outputs"]
    print(f"Columns:  x {x}, y {y} ({about['mlplab_y']}); in the file too (mlplab_inputs, mlplab_outputs)")
    sizes = ", ".join(map(str, CHECK_BATCH_SIZES))
    print(f"Checked:  max |{fmt} - PyTorch| = {worst:.3g} on batches of {sizes} (tolerance {cfg.tolerance})")
    return output
