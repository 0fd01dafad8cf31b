"""Using a trained model: predictions on files (csv/npy/pt) and exports checked against PyTorch."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch

from conftest import TINY, assert_names, compose_config, run_script, tool_cfg
from mlplab.errors import UserError
from mlplab.tasks.evaluate import load_model
from mlplab.tasks.export import EXPORTERS, ExportMismatchError, check_outputs, export
from mlplab.tasks.predict import predict
from mlplab.tasks.train import train

# Not the default 4 -> 4, so a test passes only if the sizes really come from the checkpoint.
IN_DIM, OUT_DIM = 3, 2


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last checkpoint of a real 2-epoch run of a 3 -> 6 -> 2 net."""
    out = tmp_path_factory.mktemp("trained")
    sizes = [f"data.in_dim={IN_DIM}", f"data.out_dim={OUT_DIM}", "model.hidden_dim=6", "logger=none"]
    train(compose_config("train", [*TINY, *sizes], out))
    return out / "checkpoints" / "last.ckpt"


def reference(ckpt: Path, x: torch.Tensor) -> torch.Tensor:
    model = load_model(tool_cfg("predict", f"ckpt_path={ckpt}", "input=x", "output=y"), str(ckpt))
    net = model.net
    assert isinstance(net, torch.nn.Module)
    with torch.inference_mode():
        return net.eval()(x)


def write_input(path: Path, x: torch.Tensor) -> None:
    if path.suffix == ".csv":
        np.savetxt(path, x.numpy(), delimiter=",", header="a,b,c", comments="")
    elif path.suffix == ".npy":
        np.save(path, x.numpy())
    else:
        torch.save(x, path)


def read_output(path: Path) -> torch.Tensor:
    if path.suffix == ".csv":
        assert path.read_text().splitlines()[0] == "y0,y1"
        return torch.from_numpy(np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2))
    if path.suffix == ".npy":
        return torch.from_numpy(np.load(path))
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize(("src", "dst"), [("csv", "npy"), ("npy", "pt"), ("pt", "csv")])
def test_predict_matches_the_model_in_every_format(ckpt: Path, tmp_path: Path, src: str, dst: str) -> None:
    x = torch.randn(10, IN_DIM, generator=torch.Generator().manual_seed(1))
    write_input(tmp_path / f"x.{src}", x)
    out = tmp_path / f"y.{dst}"
    # batch_size=4: 10 rows go through in three batches.
    predict(tool_cfg("predict", f"ckpt_path={ckpt}", f"input={tmp_path / f'x.{src}'}", f"output={out}", "batch_size=4"))
    got = read_output(out)
    assert got.shape == (10, OUT_DIM)
    torch.testing.assert_close(got, reference(ckpt, x), rtol=1e-6, atol=1e-6)


def test_predict_names_shape_and_format_errors(ckpt: Path, tmp_path: Path) -> None:
    def error(input_name: str, array: np.ndarray | None = None, **extra: str) -> str:
        if array is not None:
            np.save(tmp_path / input_name, array)
        overrides = [f"ckpt_path={ckpt}", f"input={tmp_path / input_name}", f"output={tmp_path / 'y.npy'}"]
        with pytest.raises(UserError) as info:
            predict(tool_cfg("predict", *overrides, *(f"{k}={v}" for k, v in extra.items())))
        return str(info.value)

    # Each names its input, and what is wrong with it: the shape it has and the one the checkpoint's net takes.
    assert_names(error("wide.npy", np.zeros((5, 4))), "wide.npy", "(5, 4)", "(n, 3)", "in_dim=3")
    assert_names(error("flat.npy", np.zeros(3)), "flat.npy", "(3,)", "(n, 3)")
    assert_names(error("nan.npy", np.array([[0, 0, 0], [0, np.nan, 0]])), "nan.npy", "NaN", "sample 1")
    assert_names(error("x.xlsx"), "x.xlsx", "allowed", ".npy", ".tsv")
    assert_names(error("missing.npy"), "missing.npy")
    assert_names(error("ok.npy", np.zeros((2, 3)), batch_size="0"), "batch_size=0")
    # A regression model has no classes to give probabilities of, in predict or export.
    assert_names(error("ok.npy", np.zeros((2, 3)), probabilities="true"), "probabilities=true", "regression")
    with pytest.raises(UserError) as info:
        export(
            tool_cfg(
                "export", f"ckpt_path={ckpt}", "format=torchscript", f"output={tmp_path / 'm.pt'}", "probabilities=true"
            )
        )
    assert_names(str(info.value), "probabilities=true", "regression")
    assert not (tmp_path / "m.pt").exists()
    assert not (tmp_path / "y.npy").exists()
    same = [f"ckpt_path={ckpt}", f"input={tmp_path / 'ok.npy'}", f"output={tmp_path / '.' / 'ok.npy'}"]
    with pytest.raises(UserError) as same_file:
        predict(tool_cfg("predict", *same))
    assert_names(str(same_file.value), "output=", "ok.npy")
    assert np.load(tmp_path / "ok.npy").shape == (2, 3)


# The ONNX (dynamo) export alone takes seconds.
@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=pytest.mark.slow), "torch_export", "torchscript"])
@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")  # TorchScript, on purpose
def test_export_reproduces_the_model_with_a_dynamic_batch(ckpt: Path, tmp_path: Path, fmt: str) -> None:
    suffix = {"onnx": ".onnx", "torch_export": ".pt2", "torchscript": ".pt"}[fmt]
    out = tmp_path / f"model{suffix}"
    export(tool_cfg("export", f"ckpt_path={ckpt}", f"format={fmt}", f"output={out}"))
    x = torch.randn(13, IN_DIM)  # a batch size the export never saw
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
    elif fmt == "torch_export":
        got = torch.export.load(str(out)).module()(x)
    else:
        got = torch.jit.load(str(out))(x)
    assert (got.detach() - reference(ckpt, x)).abs().max().item() <= 1e-5


def test_export_check_fails_loudly_on_a_mismatch() -> None:
    net = torch.nn.Linear(IN_DIM, OUT_DIM)
    with pytest.raises(ExportMismatchError) as mismatch:
        check_outputs(net, lambda x: net(x) + 1e-3, IN_DIM, 1e-5, "format=onnx")
    assert_names(str(mismatch.value), "format=onnx", re.compile(r"\b0\.00\d+"), "1e-05")  # how far off, and the limit
    with pytest.raises(ExportMismatchError, match="shape"):
        check_outputs(net, lambda x: net(x)[:1], IN_DIM, 1e-5, "format=onnx")
    assert check_outputs(net, lambda x: net(x) + 1e-7, IN_DIM, 1e-5, "format=onnx") <= 1e-5


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")  # TorchScript, on purpose
def test_an_export_that_fails_its_check_leaves_the_users_file(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model.pt"
    out.write_text("the user's file")
    overrides = [f"ckpt_path={ckpt}", "format=torchscript", f"output={out}"]
    exporter = EXPORTERS["torchscript"]

    def off_by_one(*args: Any) -> Callable[[torch.Tensor], torch.Tensor]:  # a file that computes something else
        run = exporter(*args)
        return lambda x: run(x) + 1

    monkeypatch.setitem(EXPORTERS, "torchscript", off_by_one)
    with pytest.raises(ExportMismatchError):
        export(tool_cfg("export", *overrides))
    assert out.read_text() == "the user's file" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    with pytest.raises(UserError) as refused:
        export(tool_cfg("export", *overrides, "tolerance=-1"))
    assert_names(str(refused.value), "tolerance=-1", "allowed")


def test_export_refuses_unknown_formats_and_wrong_names(ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError) as unknown:
        export(tool_cfg("export", f"ckpt_path={ckpt}", "format=tflite"))
    assert_names(str(unknown.value), "format=tflite", "allowed", "onnx")
    with pytest.raises(UserError) as wrong_name:
        export(tool_cfg("export", f"ckpt_path={ckpt}", "format=torch_export", f"output={tmp_path / 'm.onnx'}"))
    assert_names(str(wrong_name.value), "format=torch_export", ".pt2")


@pytest.mark.slow
def test_export_script_checks_and_reports(ckpt: Path, tmp_path: Path) -> None:
    proc = run_script("export.py", f"ckpt_path={ckpt}", "format=onnx", "output=model.onnx", cwd=tmp_path)
    assert f"Exported: model.onnx (onnx, input x: (batch, {IN_DIM}) float32, output y)" in proc.stdout
    assert "Checked:  max |onnx - PyTorch| = " in proc.stdout
    assert "warn" not in proc.stderr.lower()
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # one self-contained file, nothing else
