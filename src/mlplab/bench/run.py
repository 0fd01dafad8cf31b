"""Runs the benchmark cases and prints the tables (see docs/performance.md)."""

import contextlib
import copy
import datetime
import io
import json
import logging
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch

from mlplab.bench.floor import GatheredBatches, bare_fit
from mlplab.bench.hand import time_minibatch_epoch, time_tutorial
from mlplab.bench.memory import memory_case
from mlplab.bench.plot import plot_scaling
from mlplab.bench.process import process_case
from mlplab.bench.project import build, compose_run, time_fit
from mlplab.bench.rss import reset_peak_rss
from mlplab.bench.startup import startup_case
from mlplab.bench.table import NAN, Row, best_of, print_report, row
from mlplab.data.base import TensorDataModule
from mlplab.model.regressor import Regressor
from mlplab.run.console_noise import quiet_dependencies

TUTORIAL_TARGET = 1.15  # project / barebones, the tutorial experiment with its callbacks and logger
MINIBATCH_TARGET = 1.05  # project / barebones, N=1M at batch 1024, one epoch with validation
HIDDEN = (10, 256, 1024)
BATCHES = (1024, 8192)


def _prepare(overrides: list[str], tmp: Path) -> tuple[TensorDataModule, Regressor, L.Trainer, int]:
    cfg = compose_run(overrides, tmp)
    L.seed_everything(cfg.seed, verbose=False)
    datamodule, model, trainer = build(cfg)
    # With its trainer attached, setup() puts the data where the run keeps it (a GPU run: on the GPU), as
    # the hand loops' data is, before any side's timing.
    datamodule.trainer = trainer
    datamodule.setup("fit")
    return datamodule, model, trainer, int(cfg.seed)


def tutorial_case(
    accelerator: str, epochs: int, tmp: Path, compile_mode: str | None = None, val_every: int | None = None
) -> Row:
    """``experiment=seed_tutorial`` (default callbacks, TensorBoard, its epoch line) against the same 1000
    full-batch steps by hand and through Lightning's barebones loop. ``compile_mode``: the project's net with
    ``model.compile`` (hand and barebones stay eager), compiled and warmed up before the timing. ``val_every``:
    validating (and checkpointing) every so many epochs, where the experiment validates once, at the end."""
    # 1250 samples at the default 0.8/0.1/0.1 split: the 1000 training samples of the measurement.
    dm, model, trainer, seed = _prepare(
        [
            "experiment=seed_tutorial",
            "data.num_samples=1250",
            f"trainer.max_epochs={epochs}",
            f"trainer.accelerator={accelerator}",
            *([f"model.compile={compile_mode}"] if compile_mode else []),
            *([f"trainer.check_val_every_n_epoch={val_every}"] if val_every else []),
        ],
        tmp,
    )
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    x, y = (t.to(device) for t in (dm.splits["train"].x, dm.splits["train"].y))
    net = copy.deepcopy(model.net).to(device)
    if compile_mode:
        _compile_and_warm_up(model, compile_mode, x, y)
    time_tutorial(copy.deepcopy(net), x, y, epochs=20)  # warm-up: allocator, kernels, autograd graph
    hand = time_tutorial(copy.deepcopy(net), x, y, epochs=epochs)
    bare = bare_fit(copy.deepcopy(net), GatheredBatches(x, y, None, seed), accelerator, epochs)
    with contextlib.redirect_stdout(io.StringIO()):  # the experiment's "Epoch: ..." lines
        project = time_fit(dm, model, trainer)
    compiled = f", model.compile={compile_mode}" if compile_mode else ""
    work = f"tutorial: {epochs} full-batch epochs of {len(x)} ({accelerator}{compiled})"
    if val_every:
        work = f"tutorial, val every {val_every} epochs ({accelerator})"
    return row(work, hand, bare, project, epochs, epochs * len(x), NAN if val_every else TUTORIAL_TARGET)


def _compile_and_warm_up(model: Regressor, mode: str, x: torch.Tensor, y: torch.Tensor) -> None:
    """Compiles the project's net as its fit would (``MLPModule.setup``), then runs its step a few times at the
    full batch's shape, so the timed fit measures steps, not compiling (or CUDA-graph recording)."""
    model.to(x.device)
    model.net.compile(mode=mode)
    model.net_compiled = True
    for _ in range(3):
        torch.nn.functional.mse_loss(model.net(x), y).backward()
    model.zero_grad(set_to_none=True)


def minibatch_case(accelerator: str, num_train: int, tmp: Path, hidden: int = 10, batch: int = 1024) -> Row:
    """One shuffled epoch at ``batch`` plus a validation pass, on each side; the project with its default
    callbacks (progress bar included), TensorBoard and checkpoints."""
    dm, model, trainer, seed = _prepare(
        [
            f"data.num_samples={num_train * 5 // 4}",
            f"data.batch_size={batch}",
            f"model.hidden_dim={hidden}",
            "trainer.max_epochs=1",
            f"trainer.accelerator={accelerator}",
        ],
        tmp,
    )
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    train = (dm.splits["train"].x.to(device), dm.splits["train"].y.to(device))
    val = (dm.splits["val"].x.to(device), dm.splits["val"].y.to(device))
    net = copy.deepcopy(model.net).to(device)
    time_minibatch_epoch(copy.deepcopy(net), (train[0][:65536], train[1][:65536]), val, batch, seed)  # warm-up
    hand, steps = time_minibatch_epoch(copy.deepcopy(net), train, val, batch, seed)
    bare = bare_fit(
        copy.deepcopy(net),
        GatheredBatches(*train, batch, seed),
        accelerator,
        1,
        val=GatheredBatches(*val, batch, None),
    )
    project = time_fit(dm, model, trainer)
    target = MINIBATCH_TARGET if (hidden, batch) == (10, 1024) else NAN
    work = f"N={num_train:,} hidden {hidden} batch {batch}, 1 epoch + val ({accelerator})"
    return row(work, hand, bare, project, steps, num_train, target)


def _minibatch(accelerator: str, num_train: int, hidden: int, batch: int, tmp: Path) -> Row:
    return minibatch_case(accelerator, num_train, tmp, hidden, batch)


def _repeat(case: Callable[[Path], Row], tmp: Path, name: str, repeats: int) -> Row:
    runs = []
    for i in range(repeats):
        reset_peak_rss()
        runs.append(case(tmp / f"{name}-{i}"))
    return best_of(runs)


def _machine() -> dict[str, Any]:
    return {
        "date": datetime.date.today().isoformat(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def run(quick: bool, output: Path, repeats: int = 3) -> dict[str, object]:
    quiet_dependencies()
    # Each of the bench's Trainers would print its device lines and "max_epochs reached": not bench results.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    accelerators = ["cpu"] + (["gpu"] if torch.cuda.is_available() else [])
    repeats = 1 if quick else repeats
    epochs, num_train = (50, 8192) if quick else (1000, 1_000_000)
    rows: list[Row] = []
    scaling: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for acc in accelerators:
            rows.append(_repeat(partial(tutorial_case, acc, epochs), tmp, f"tut-{acc}", repeats))
            # What validating on a cadence costs, beside the experiment's single validation at its end.
            every = partial(tutorial_case, acc, epochs, val_every=epochs // 10)
            rows.append(_repeat(every, tmp, f"tut-{acc}-val", repeats))
            if acc == "gpu":  # the step captured in CUDA graphs; on a CPU a compiled net is slower here
                graphs = partial(tutorial_case, acc, epochs, compile_mode="reduce-overhead")
                try:
                    rows.append(_repeat(graphs, tmp, "tut-gpu-graphs", repeats))
                except Exception as e:  # not yet run on a GPU by this project: reported, the other rows kept
                    print(f"tutorial with model.compile=reduce-overhead failed: {type(e).__name__}: {e}")
            for hidden in HIDDEN:
                for batch in BATCHES:
                    case = partial(_minibatch, acc, num_train, hidden, batch)
                    result = _repeat(case, tmp, f"mb-{acc}-{hidden}-{batch}", repeats)
                    scaling.append(result)
                    if (hidden, batch) == (10, 1024):
                        rows.append(result)
        memory = memory_case(50_000 if quick else 10_000_000, 1000, tmp)
        startup = startup_case(tmp / "startup", repeats=1 if quick else 5)
        process = process_case(tmp / "process", repeats=1 if quick else 3)
    report = {
        # NaN (a row without a target) is not JSON: null instead.
        "rows": [_json_row(r) for r in rows],
        "scaling": [_json_row(r) for r in scaling],
        "memory": memory,
        "startup": startup,
        "process": process,
        "machine": _machine(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "threads": torch.get_num_threads(),
        "quick": quick,
        "repeats": repeats,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    print_report(rows, scaling, memory, startup, process, output, repeats)
    plot = plot_scaling(scaling, output.with_name("scaling.png"))
    if plot is not None:
        print(f"plot: {plot}")
    return report


def _json_row(r: Row) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and v != v else v for k, v in asdict(r).items()}
