"""`make bench` runs end to end and reports every case; the ratios themselves are not asserted here."""

import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from conftest import ROOT
from mlplab.bench.floor import GatheredBatches, TutorialModule, bare_fit
from mlplab.bench.hand import time_minibatch_epoch
from mlplab.bench.table import Row, best_of
from mlplab.callbacks.lean import LeanCallback, NoProfiler
from mlplab.callbacks.model_checkpoint import ModelCheckpoint
from mlplab.callbacks.progress_bar import RichProgressBar
from mlplab.compat.lightning import WakefulRefreshThread
from mlplab.model.net import Net
from mlplab.model.tutorial_loop import hand_loop
from mlplab.run.console_noise import quiet_dependencies


@pytest.mark.slow
def test_bench_quick_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    for header in ("hand µs/step", "barebones µs/step", "project µs/step", "project/barebones", "samples/s"):
        assert header in proc.stdout
    assert "whole process:" in proc.stdout and "scaling" in proc.stdout
    report = json.loads(out.read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity
    works = [row["work"] for row in report["rows"]]
    assert len(works) == 3 and works[0].startswith("tutorial") and works[2].startswith("N=")
    # Beside the experiment as it runs (one validation, at the end): what validating every 1/10 of it costs.
    assert works[1].startswith("tutorial") and "val every 5 epochs" in works[1]
    assert [row["target"] is not None for row in report["rows"]] == [True, False, True]
    scaling = report["scaling"]
    assert len(scaling) == 6 and report["rows"][2] in scaling  # hidden 10/256/1024 x batch 1024/8192
    assert sum(row["target"] is None for row in scaling) == 5
    for row in report["rows"] + scaling:
        assert row["hand_us_per_step"] > 0 and row["barebones_us_per_step"] > 0 and row["project_us_per_step"] > 0
        # Every ratio is made from the same row's own timings: measured in one run, nothing carried over.
        assert math.isclose(row["ratio"], row["project_us_per_step"] / row["barebones_us_per_step"], rel_tol=1e-6)
        assert math.isclose(row["project_vs_hand"], row["project_us_per_step"] / row["hand_us_per_step"], rel_tol=1e-6)
        assert math.isclose(
            row["barebones_vs_hand"], row["barebones_us_per_step"] / row["hand_us_per_step"], rel_tol=1e-6
        )
    memory = report["memory"]
    assert memory["big_n"] > memory["small_n"] and memory["data_mb"] > 0 and "ratio" in memory
    startup = {case["command"]: case for case in report["startup"]}
    assert set(startup) == {"--help", "--cfg job"}  # each timed against a bare Hydra app over conf/
    assert all(case["project_s"] > 0 and case["bare_s"] > 0 for case in startup.values())
    process = report["process"]
    assert process["project_s"] > 0 and process["seed_s"] > 0
    assert math.isclose(process["ratio"], process["project_s"] / process["seed_s"], rel_tol=1e-6)
    assert report["machine"]["cpus"] and report["machine"]["date"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's inductor
def test_the_compiled_tutorial_row_times_a_warmed_up_compiled_net(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU bench's model.compile row, run here with the CPU's mode: the project's net is compiled and
    warmed up before the timing, and the fit keeps that net, so the row times steps, not compiling."""
    from mlplab.bench.run import tutorial_case

    modes: list[str] = []
    compile_in_place = torch.nn.Module.compile

    def counted(module: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        modes.append(kwargs["mode"])
        compile_in_place(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "compile", counted)
    quiet_dependencies()  # as the bench's run() does: the tutorial's one batch an epoch is no news
    result = tutorial_case("cpu", 20, tmp_path, compile_mode="default")
    assert modes == ["default"]  # once, before the timing; MLPModule.setup did not compile it again
    assert "model.compile=default" in result.work and result.project_us_per_step > 0


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
# Lightning 2.6 checks torch's deprecated LeafSpec in its own loop; the scripts and the bench silence it too.
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_the_floor_does_the_hand_loops_work(manual: bool) -> None:
    """The floor rows time Lightning over exactly the tutorial's steps: same weights after the same epochs."""
    x, y = torch.randn(64, 4), torch.randn(64, 4)
    hand, floor = Net(), Net()
    floor.load_state_dict(hand.state_dict())
    hand_loop(hand, x, y, epochs=5, lr=0.01)
    bare_fit(floor, GatheredBatches(x, y, None, seed=0), "cpu", epochs=5, manual=manual)
    for a, b in zip(hand.parameters(), floor.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert not torch.equal(hand.fc1.weight, Net().fc1.weight)  # it trained


# Lightning 2.6 checks torch's deprecated LeafSpec in its own loop; the scripts and the bench silence it too.
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_the_floor_validates_like_the_hand_loop() -> None:
    """The N=1M floor trains on the hand loop's shuffled batches and validates once, after its epoch."""
    x, y, vx, vy = torch.randn(256, 4), torch.randn(256, 4), torch.randn(100, 4), torch.randn(100, 4)
    hand, floor = Net(), Net()
    floor.load_state_dict(hand.state_dict())
    time_minibatch_epoch(hand, (x, y), (vx, vy), 64, seed=0)
    assert bare_fit(floor, GatheredBatches(x, y, 64, seed=0), "cpu", 1, val=GatheredBatches(vx, vy, 64, None)) > 0
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(hand(vx), vy, reduction="sum")
        got = torch.nn.functional.mse_loss(floor(vx), vy, reduction="sum")
    torch.testing.assert_close(got, expected)  # the same batches, so the same weights after the epoch


def test_each_side_counts_its_fastest_run() -> None:
    runs = [
        Row("tutorial", 300.0, 700.0, 1200.0, 1200 / 700, 1.15, 4.0, 700 / 300, 800_000.0, 400.0),
        Row("tutorial", 250.0, 750.0, 1300.0, 1300 / 750, 1.15, 5.2, 3.0, 750_000.0, 420.0),
    ]
    best = best_of(runs)
    assert (best.hand_us_per_step, best.barebones_us_per_step, best.project_us_per_step) == (250.0, 700.0, 1200.0)
    assert best.ratio == 1200.0 / 700.0 and best.project_vs_hand == 1200.0 / 250.0
    assert best.barebones_vs_hand == 700.0 / 250.0
    assert best.samples_per_s == 800_000.0 and best.peak_rss_mb == 420.0


def test_a_memory_run_counts_its_own_peak_not_the_bench_process() -> None:
    """A child's ru_maxrss starts at its forking parent's RSS on Linux; the memory case must not read that."""
    ballast = torch.ones(50_000_000)  # 200 MB resident in this (the parent) process
    probe = "from mlplab.bench.rss import own_peak_rss_bytes as o, peak_rss_bytes as p; print(o(), p())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    own, inherited = map(int, out.stdout.split())
    assert inherited - own > 150 * 2**20, (own, inherited)
    del ballast


def test_a_cases_peak_is_its_own_not_the_bench_so_far() -> None:
    """Each row's peak RSS starts afresh: an earlier, larger case does not show in a later one's."""
    probe = (
        "from mlplab.bench.rss import own_peak_rss_bytes as o, reset_peak_rss as r\n"
        "ballast = bytearray(200 * 2**20); del ballast\n"  # an earlier case's peak, since freed
        "before = o(); assert r(); print(before, o())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    before, after = map(int, out.stdout.split())
    assert before - after > 150 * 2**20, (before, after)


class _CountsEpochs(LeanCallback):
    def __init__(self) -> None:
        self.epochs = 0
        self.batches = 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs += 1
        if self.epochs == 2:
            self.wake("on_train_batch_end")  # from the next batch on

    def on_train_batch_end(self, *args: object) -> None:
        self.batches += 1


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_lightning_calls_a_lean_callbacks_own_hooks_and_skips_the_rest() -> None:
    """mlplab's callbacks rely on Lightning skipping a hook that is not callable (callbacks/lean.py), and
    calling it again once woken."""
    counter = _CountsEpochs()
    assert counter.on_train_batch_start is None and counter.on_before_backward is None  # left at the default
    assert callable(counter.on_train_epoch_end) and callable(counter.on_train_batch_end)
    counter.skip("on_train_batch_end")
    x, y = torch.randn(64, 4), torch.randn(64, 4)
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[counter],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        profiler=NoProfiler(),
    )
    trainer.fit(TutorialModule(Net()), train_dataloaders=GatheredBatches(x, y, 16, seed=0))
    assert counter.epochs == 3 and counter.batches == 4  # the last epoch's 4 batches, after the wake
    with pytest.raises(ValueError, match="per-batch or per-epoch"):
        counter.skip("on_save_checkpoint")  # Lightning calls that one directly


def test_model_checkpoint_keeps_its_batch_hook_only_for_step_interval_saves(tmp_path: Path) -> None:
    assert ModelCheckpoint(dirpath=tmp_path, monitor="val/loss").on_train_batch_end is None
    assert callable(ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=5).on_train_batch_end)
    assert callable(
        ModelCheckpoint(tmp_path, None, None, False, None, 1, False, False, "min", True, 7).on_train_batch_end
    )


class _SeesTheBarsThread(L.Callback):
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        bar = trainer.progress_bar_callback
        self.threads.append(bar.progress.live._refresh_thread)


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_the_bars_refresh_thread_wakes_when_the_bar_stops() -> None:
    """Stopping the bar joins its refresh thread: mlplab's waits on its stop event, not in a sleep."""
    seen = _SeesTheBarsThread()
    x, y = torch.randn(64, 4), torch.randn(64, 4)
    trainer = L.Trainer(
        max_epochs=2,
        callbacks=[RichProgressBar(refresh_rate=1), seen],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(TutorialModule(Net()), train_dataloaders=GatheredBatches(x, y, 16, seed=0))
    assert seen.threads and all(isinstance(t, WakefulRefreshThread) for t in seen.threads)
    assert not any(t.is_alive() for t in seen.threads)  # joined when the bar stopped
