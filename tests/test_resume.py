"""Interrupted runs: Ctrl-C/SIGTERM save and exit 130/143, SIGKILL loses nothing, resume is bit-exact."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, compose_config, run_script
from mlplab.train import train

# 1000 shuffled steps (100 batches x 10 epochs), checkpoints every 25 steps, so most land mid-epoch.
RUN = [
    "data.num_samples=500",
    "data.batch_size=4",
    "trainer.max_epochs=10",
    "trainer.log_every_n_steps=5",
    "trainer.enable_progress_bar=false",
    "+callbacks.model_checkpoint.every_n_train_steps=25",
]


class CrashAt(L.Callback):
    """Stands in for a crash: raises after optimizer step ``step`` (before that step's checkpoint)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError(f"crash at step {self.step}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, never interrupted."""
    run_dir = tmp_path_factory.mktemp("reference")
    train(compose_config("train", RUN, run_dir))
    return run_dir


def last_ckpt(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def assert_same_weights(run_dir: Path, reference: Path) -> None:
    got, want = last_ckpt(run_dir), last_ckpt(reference)
    assert got["global_step"] == want["global_step"] == 1000
    for name, tensor in want["state_dict"].items():
        assert torch.equal(got["state_dict"][name], tensor), f"{name} differs from the uninterrupted run"


def steps_by_tag(run_dir: Path) -> dict[str, list[int]]:
    """TensorBoard's view (purges applied) of every scalar's steps."""
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def start(run_dir: Path, *overrides: str) -> subprocess.Popen[bytes]:
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = (run_dir.parent / f"{run_dir.name}.{time.monotonic_ns()}.out").open("wb")  # a pipe could fill and block
    args = [sys.executable, str(ROOT / "scripts" / "train.py"), *RUN, f"hydra.run.dir={run_dir}", *overrides]
    return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_for_new_checkpoint(proc: subprocess.Popen[bytes], run_dir: Path, after_ns: int = 0) -> None:
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not (last.exists() and last.stat().st_mtime_ns > after_ns):
        assert proc.poll() is None, f"the run ended ({proc.returncode}) before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)


def test_resumes_from_epoch_end_and_mid_epoch_checkpoints_are_bit_exact(reference: Path, tmp_path: Path) -> None:
    """Crash after step 305 (last.ckpt: epoch 2's end), resume, crash after 437 (last.ckpt: 425), resume."""
    run_dir = tmp_path / "run"
    for crash_step, saved_step, resume in ((305, 300, []), (437, 425, ["ckpt_path=last"])):
        crash = ["+callbacks.crash._target_=test_resume.CrashAt", f"+callbacks.crash.step={crash_step}"]
        with pytest.raises(RuntimeError, match=f"crash at step {crash_step}"):
            train(compose_config("train", [*RUN, *crash, *resume], run_dir))
        assert last_ckpt(run_dir)["global_step"] == saved_step
    train(compose_config("train", [*RUN, "ckpt_path=last"], run_dir))
    assert_same_weights(run_dir, reference)


def test_ctrl_c_sigkill_and_sigterm_then_resume_is_bit_exact_with_continuous_curves(
    reference: Path, tmp_path: Path
) -> None:
    """One run stopped three ways, resumed each time: the end is the uninterrupted run's, bit for bit."""
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    steps = []
    for signum in (signal.SIGINT, signal.SIGKILL, signal.SIGTERM):
        before = last.stat().st_mtime_ns if last.exists() else 0
        proc = start(run_dir, *(["ckpt_path=last"] if before else []))
        wait_for_new_checkpoint(proc, run_dir, before)
        if signum == signal.SIGKILL:
            time.sleep(0.2)  # somewhere after a checkpoint, possibly in the middle of writing the next one
        proc.send_signal(signum)
        code = proc.wait(timeout=60)
        steps.append(last_ckpt(run_dir)["global_step"])  # loads: never a half-written last.ckpt
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
            continue
        assert code == 128 + signum  # 130 for Ctrl-C, 143 for SIGTERM: interrupted, not finished
        out = max(run_dir.parent.glob("run.*.out"), key=os.path.getmtime).read_text()
        assert f"interrupted by {signal.Signals(signum).name} at epoch" in out and "ckpt_path=last" in out
    assert 0 < steps[0] < steps[1] < steps[2] < 1000, steps  # each stop kept the progress made before it
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # signals never leave a temp file behind

    run_script("train.py", *RUN, f"hydra.run.dir={run_dir}", "ckpt_path=last")
    assert_same_weights(run_dir, reference)
    resumed, uninterrupted = steps_by_tag(run_dir), steps_by_tag(reference)
    for tag in ("train/loss", "val/loss", "lr-SGD", "test/loss"):
        assert resumed[tag] == uninterrupted[tag], f"{tag}: steps repeated or missing after the resumes"
