"""Runs the benchmark cases and prints the table (see docs/performance.md)."""

import contextlib
import copy
import io
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

import lightning as L
import torch

from mlplab.bench.floor import GatheredBatches, bare_fit
from mlplab.bench.hand import time_minibatch_epoch, time_train_batches, time_tutorial
from mlplab.bench.memory import memory_case
from mlplab.bench.project import build, compose_run, time_fit
from mlplab.bench.rss import reset_peak_rss
from mlplab.bench.startup import startup_case
from mlplab.bench.table import NAN, Row, best_of, print_report, row
from mlplab.data.base import TensorDataModule
from mlplab.model.regressor import Regressor
from mlplab.run.console_noise import quiet_dependencies


def _prepare(overrides: list[str], tmp: Path) -> tuple[TensorDataModule, Regressor, L.Trainer, int]:
    cfg = compose_run(overrides, tmp)
    L.seed_everything(cfg.seed, verbose=False)
    datamodule, model, trainer = build(cfg)
    # With its trainer attached, setup() puts the data where the run keeps it (a GPU run: on the GPU), as
    # the hand loops' data is, before either side's timing.
    datamodule.trainer = trainer
    datamodule.setup("fit")
    return datamodule, model, trainer, int(cfg.seed)


def tutorial_case(accelerator: str, epochs: int, tmp: Path) -> Row:
    # 1250 samples at the default 0.8/0.1/0.1 split: the 1000 training samples of the measurement.
    dm, model, trainer, _ = _prepare(
        [
            "experiment=seed_tutorial",
            "data.num_samples=1250",
            f"trainer.max_epochs={epochs}",
            f"trainer.accelerator={accelerator}",
        ],
        tmp,
    )
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    x, y = (t.to(device) for t in (dm.splits["train"].x, dm.splits["train"].y))
    net = copy.deepcopy(model.net).to(device)
    time_tutorial(copy.deepcopy(net), x, y, epochs=20)  # warm-up: allocator, kernels, autograd graph
    hand = time_tutorial(net, x, y, epochs=epochs)
    with contextlib.redirect_stdout(io.StringIO()):  # the experiment's "Epoch: ..." lines
        project = time_fit(dm, model, trainer)
    return row(
        f"tutorial: {epochs} full-batch epochs of {len(x)} ({accelerator})", hand, project, epochs, epochs * len(x), 2.5
    )


def floor_case(accelerator: str, epochs: int, tmp: Path, manual: bool = False) -> Row:
    """The tutorial's work through Lightning's barebones loop: what Lightning itself costs per one-step epoch."""
    dm, model, _, seed = _prepare(
        ["experiment=seed_tutorial", "data.num_samples=1250", f"trainer.accelerator={accelerator}"], tmp
    )
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    x, y = (t.to(device) for t in (dm.splits["train"].x, dm.splits["train"].y))
    net = model.net.to(device)
    hand = time_tutorial(copy.deepcopy(net), x, y, epochs=epochs)
    project = bare_fit(net, GatheredBatches(x, y, None, seed), accelerator, epochs, manual)
    return row(f"  floor: {_floor_name(manual)} ({accelerator})", hand, project, epochs, epochs * len(x), NAN)


def minibatch_floor_case(accelerator: str, num_train: int, tmp: Path, manual: bool = False) -> Row:
    """One epoch at batch 1024 through the bare loop (no validation on either side)."""
    dm, model, _, seed = _prepare([f"data.num_samples={num_train * 5 // 4}", f"trainer.accelerator={accelerator}"], tmp)
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    x, y = (t.to(device) for t in (dm.splits["train"].x, dm.splits["train"].y))
    batches = GatheredBatches(x, y, 1024, seed)
    net = model.net.to(device)
    hand = time_train_batches(copy.deepcopy(net), batches)
    project = bare_fit(net, batches, accelerator, 1, manual)
    return row(f"  floor: {_floor_name(manual)}, no val ({accelerator})", hand, project, len(batches), len(x), NAN)


def _floor_name(manual: bool) -> str:
    return "Lightning barebones, manual optim." if manual else "Lightning barebones"


def minibatch_case(accelerator: str, num_train: int, tmp: Path) -> Row:
    dm, model, trainer, seed = _prepare(
        [
            f"data.num_samples={num_train * 5 // 4}",
            "data.batch_size=1024",
            "trainer.max_epochs=1",
            f"trainer.accelerator={accelerator}",
        ],
        tmp,
    )
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    train = (dm.splits["train"].x.to(device), dm.splits["train"].y.to(device))
    val = (dm.splits["val"].x.to(device), dm.splits["val"].y.to(device))
    net = copy.deepcopy(model.net).to(device)
    time_minibatch_epoch(copy.deepcopy(net), (train[0][:65536], train[1][:65536]), val, 1024, seed)  # warm-up
    hand, steps = time_minibatch_epoch(net, train, val, 1024, seed)
    project = time_fit(dm, model, trainer)
    return row(f"N={num_train:,} batch 1024, 1 epoch + val ({accelerator})", hand, project, steps, num_train, 1.3)


def run(quick: bool, output: Path, repeats: int = 3) -> dict[str, object]:
    quiet_dependencies()
    # Each of the bench's Trainers would print its device lines and "max_epochs reached": not bench results.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    accelerators = ["cpu"] + (["gpu"] if torch.cuda.is_available() else [])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for acc in accelerators:
            epochs, num_train = (50, 8192) if quick else (1000, 1_000_000)
            cases: list[tuple[Callable[[str, int, Path], Row], int, str]] = [
                (tutorial_case, epochs, "tut"),
                (floor_case, epochs, "floor"),
                (partial(floor_case, manual=True), epochs, "floor-manual"),
                (minibatch_case, num_train, "mb"),
                (minibatch_floor_case, num_train, "mbfloor"),
                (partial(minibatch_floor_case, manual=True), num_train, "mbfloor-manual"),
            ]
            for case, size, name in cases:
                runs = []
                for i in range(1 if quick else repeats):
                    reset_peak_rss()
                    runs.append(case(acc, size, tmp / f"{name}-{acc}-{i}"))
                rows.append(best_of(runs))
        memory = memory_case(50_000 if quick else 10_000_000, 1000, tmp)
        startup = startup_case(tmp / "startup", repeats=1 if quick else 5)
    report = {
        # NaN (a floor row's target) is not JSON: null instead.
        "rows": [{k: None if v != v else v for k, v in asdict(r).items()} for r in rows],
        "memory": memory,
        "startup": startup,
        "torch": torch.__version__,
        "lightning": L.__version__,
        "threads": torch.get_num_threads(),
        "quick": quick,
        "repeats": 1 if quick else repeats,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    print_report(rows, memory, startup, output, 1 if quick else repeats)
    return report
