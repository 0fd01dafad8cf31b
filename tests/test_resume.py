"""Interrupted runs: Ctrl-C/SIGTERM save and exit 130/143, SIGKILL loses nothing, resume is bit-exact."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, assert_names, compose_config, run_script, whole
from mlplab.callbacks.resume_state import restore_rng
from mlplab.errors import Interrupted
from mlplab.tasks.train import train

# 1000 shuffled steps (100 batches x 10 epochs), checkpoints every 25 steps, so most land mid-epoch.
RUN = [
    "data.num_samples=500",
    "data.batch_size=4",
    "trainer.max_epochs=10",
    "trainer.log_every_n_steps=1",  # a point every step: a repeated or missing step shows at any resume
    "trainer.enable_progress_bar=false",
    "+callbacks.model_checkpoint.every_n_train_steps=25",
]


class SignalAt(L.Callback):
    """Sends this process ``signum`` after optimizer step ``step``, as a user's Ctrl-C would arrive."""

    def __init__(self, step: int, signum: int = signal.SIGINT) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class SignalAfterBatch(L.Callback):
    """Sends this process SIGINT after its ``batch``-th training batch (counting from 1)."""

    def __init__(self, batch: int) -> None:
        self.batch, self.seen = batch, 0

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        self.seen += 1
        if self.seen == self.batch:
            os.kill(os.getpid(), signal.SIGINT)


class CrashAt(L.Callback):
    """Stands in for a crash: raises after optimizer step ``step`` (before that step's checkpoint)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError(f"crash at step {self.step}")


class CrashInValidationAt(L.Callback):
    """Raises as the validation after optimizer step ``step`` starts (a crash or kill during validation)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_validation_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and not trainer.sanity_checking:
            raise RuntimeError(f"crash in validation at step {self.step}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, never interrupted."""
    run_dir = tmp_path_factory.mktemp("reference")
    train(compose_config("train", RUN, run_dir))
    return run_dir


def next_second() -> None:
    """Event files are named <second>.<host>.<pid>.<n>, read in name order: within one process and one
    second, writer 10 would sort before writer 9 (separate runs are separate processes)."""
    time.sleep(1.01 - time.time() % 1)


class NewSecondBeforeTheTest(L.Callback):
    """Lightning closes the TensorBoard writer when fit ends and the test opens a new event file. Resumed in
    this test process, the two can share a second with counters 9 and 10: the test's file would then be read
    first, and the fit file's purge marker (at the resumed step) would hide test/loss. A new process (a user's
    run) numbers its writers from 0."""

    def on_test_start(self, trainer: L.Trainer, *args: object) -> None:
        next_second()


RESUMED = [*RUN, "ckpt_path=last", "+callbacks.test_in_a_new_second._target_=test_resume.NewSecondBeforeTheTest"]


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


def assert_same_curve_steps(run_dir: Path, reference: Path) -> None:
    resumed, uninterrupted = steps_by_tag(run_dir), steps_by_tag(reference)
    for tag in ("train/loss", "val/loss", "lr-SGD", "test/loss"):
        assert resumed[tag] == uninterrupted[tag], f"{tag}: steps repeated or missing after resuming"


def start(run_dir: Path, *overrides: str) -> subprocess.Popen[bytes]:
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(ROOT / "scripts" / "train.py"), *RUN, f"hydra.run.dir={run_dir}", *overrides]
    # Output to a file: a pipe nobody reads could fill up and block the run.
    with (run_dir.parent / f"{run_dir.name}.{time.monotonic_ns()}.out").open("wb") as log:
        return subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_for_new_checkpoint(proc: subprocess.Popen[bytes], run_dir: Path, after_ns: int = 0) -> None:
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not (last.exists() and last.stat().st_mtime_ns > after_ns):
        assert proc.poll() is None, f"the run ended ({proc.returncode}) before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)


@pytest.mark.slow
def test_resumes_from_epoch_end_and_mid_epoch_checkpoints_are_bit_exact(reference: Path, tmp_path: Path) -> None:
    """Crash after step 305 (last.ckpt: epoch 2's end), resume, crash after 437 (last.ckpt: 425), resume."""
    run_dir = tmp_path / "run"
    for crash_step, saved_step, resume in ((305, 300, []), (437, 425, ["ckpt_path=last"])):
        crash = ["+callbacks.crash._target_=test_resume.CrashAt", f"+callbacks.crash.step={crash_step}"]
        with pytest.raises(RuntimeError, match=f"crash at step {crash_step}"):
            train(compose_config("train", [*RUN, *crash, *resume], run_dir))
        assert last_ckpt(run_dir)["global_step"] == saved_step
        next_second()
    train(compose_config("train", RESUMED, run_dir))
    assert_same_weights(run_dir, reference)
    assert_same_curve_steps(run_dir, reference)


def test_a_mid_epoch_checkpoint_resumes_only_with_the_batches_it_counted(tmp_path: Path) -> None:
    """Its position is "after N batches": with another batch size those would be other samples. Refused."""
    short = [*RUN, "trainer.max_epochs=2", "logger=none", "test=false"]
    crash = ["+callbacks.crash._target_=test_resume.CrashAt", "+callbacks.crash.step=130"]
    with pytest.raises(RuntimeError, match="crash at step 130"):
        train(compose_config("train", [*short, *crash], tmp_path))
    assert last_ckpt(tmp_path)["global_step"] == 125  # 25 batches into the second epoch of 100
    with pytest.raises(ValueError) as refused:
        train(compose_config("train", [*short, "data.batch_size=5", "ckpt_path=last"], tmp_path))
    assert_names(str(refused.value), "after 25 batches", "data.batch_size", "allowed")
    train(compose_config("train", [*short, "ckpt_path=last"], tmp_path))  # the same batches: it finishes


@pytest.mark.slow
def test_a_crash_in_an_epochs_validation_resumes_into_that_validation(reference: Path, tmp_path: Path) -> None:
    """Step 300 ends epoch 2 and is a save step: the save waits for epoch 2's validation, which crashes.

    Lightning resumes a checkpoint of an epoch's last batch as if its validation had run: saved before the
    validation, step 300's val/loss point (logged at 299) would never be written.
    """
    crash = ["+callbacks.crash._target_=test_resume.CrashInValidationAt", "+callbacks.crash.step=300"]
    with pytest.raises(RuntimeError, match="crash in validation at step 300"):
        train(compose_config("train", [*RUN, *crash], tmp_path))
    assert last_ckpt(tmp_path)["global_step"] == 275
    next_second()
    train(compose_config("train", RESUMED, tmp_path))
    assert_same_weights(tmp_path, reference)
    assert_same_curve_steps(tmp_path, reference)


@pytest.mark.slow
def test_ctrl_c_saves_that_moment_and_the_resume_is_bit_exact(reference: Path, tmp_path: Path) -> None:
    ctrl_c = ["+callbacks.ctrl_c._target_=test_resume.SignalAt", "+callbacks.ctrl_c.step=250"]
    with pytest.raises(Interrupted) as stop:
        train(compose_config("train", [*RUN, *ctrl_c], tmp_path))
    assert stop.value.exit_code == 130
    # What stopped it, when, and how to go on.
    assert_names(str(stop.value), "SIGINT", "epoch 2", whole("step 250"), "ckpt_path=last")
    assert last_ckpt(tmp_path)["global_step"] == 250  # the moment of the signal, not the last periodic save
    train(compose_config("train", RESUMED, tmp_path))
    assert_same_weights(tmp_path, reference)


@pytest.mark.slow
def test_sigterm_and_sigkill_then_resume_is_bit_exact_with_continuous_curves(reference: Path, tmp_path: Path) -> None:
    """A real run stopped by SIGTERM (exit 143), resumed, killed by SIGKILL, resumed to the end."""
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    steps = []
    for signum in (signal.SIGTERM, signal.SIGKILL):
        before = last.stat().st_mtime_ns if last.exists() else 0
        proc = start(run_dir, *(["ckpt_path=last"] if before else []))
        wait_for_new_checkpoint(proc, run_dir, before)
        if signum == signal.SIGKILL:
            time.sleep(0.2)  # somewhere after a checkpoint, possibly in the middle of writing the next one
        proc.send_signal(signum)
        code = proc.wait(timeout=60)
        steps.append(last_ckpt(run_dir)["global_step"])  # loads: never a half-written last.ckpt
        if signum == signal.SIGTERM:
            assert code == 143  # interrupted, not finished
            out = max(run_dir.parent.glob("run.*.out"), key=os.path.getmtime).read_text()
            (stopped,) = [line for line in out.splitlines() if line.startswith("stopped: ")]
            assert_names(stopped, "SIGTERM", "epoch", "ckpt_path=last")
        else:
            assert code == -signal.SIGKILL
    assert 0 < steps[0] < steps[1] < 1000, steps  # each stop kept the progress made before it

    run_script("train.py", *RUN, f"hydra.run.dir={run_dir}", "ckpt_path=last")
    # SIGKILL may land mid-write and leave a temp file; the resumed run's saves clear it.
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    assert_same_weights(run_dir, reference)
    assert_same_curve_steps(run_dir, reference)


@pytest.mark.slow
def test_checkpoints_carry_rng_states_that_load_weights_only(reference: Path) -> None:
    state = last_ckpt(reference)["callbacks"]["ResumeState"]  # loaded weights-only above
    restore_rng(state)
    drawn = (random.random(), float(np.random.rand()), float(torch.rand(())))
    restore_rng(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == drawn


def curve(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


SMALL = [  # 16 batches an epoch
    "data.num_samples=80",
    "data.batch_size=4",
    "trainer.max_epochs=3",
    "trainer.log_every_n_steps=5",
    "trainer.enable_progress_bar=false",
    "test=false",
]


def test_ctrl_c_while_accumulating_gradients_saves_at_the_step(tmp_path: Path) -> None:
    """Batches pair up into steps: Ctrl-C after batch 23 (half a step) saves after batch 24, step 12."""
    accumulate = [*SMALL, "trainer.accumulate_grad_batches=2"]
    train(compose_config("train", accumulate, tmp_path / "reference"))
    ctrl_c = ["+callbacks.ctrl_c._target_=test_resume.SignalAfterBatch", "+callbacks.ctrl_c.batch=23"]
    with pytest.raises(Interrupted) as stop:
        train(compose_config("train", [*accumulate, *ctrl_c], tmp_path / "run"))
    assert_names(str(stop.value), "epoch 1", whole("step 12"))
    next_second()
    train(compose_config("train", [*accumulate, "ckpt_path=last"], tmp_path / "run"))
    want = last_ckpt(tmp_path / "reference")["state_dict"]
    for name, tensor in last_ckpt(tmp_path / "run")["state_dict"].items():
        assert torch.equal(tensor, want[name]), f"{name} differs from the uninterrupted run"
    assert curve(tmp_path / "run", "train/loss") == curve(tmp_path / "reference", "train/loss")


def test_a_resume_inside_a_logging_window_and_an_epoch_keeps_their_means(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """16 steps an epoch, train/loss every 5 steps, saves every 7: the save at step 21 falls inside the
    window of steps 21-25 and inside epoch 2 (steps 17-32). A crash at 23 resumes from 21; the window
    logged at 25 and epoch 2's printed mean must still cover all of their steps."""
    run = [
        *SMALL,
        "+callbacks.model_checkpoint.every_n_train_steps=7",
        "+callbacks.epoch_printer._target_=mlplab.callbacks.epoch_printer.EpochPrinter",
        "+callbacks.epoch_printer.every_n_epochs=1",
    ]
    train(compose_config("train", run, tmp_path / "reference"))
    printed = capsys.readouterr().out
    crash = ["+callbacks.crash._target_=test_resume.CrashAt", "+callbacks.crash.step=23"]
    with pytest.raises(RuntimeError, match="crash at step 23"):
        train(compose_config("train", [*run, *crash], tmp_path / "run"))
    assert last_ckpt(tmp_path / "run")["global_step"] == 21
    next_second()
    train(compose_config("train", [*run, "ckpt_path=last"], tmp_path / "run"))
    resumed = capsys.readouterr().out
    for line in ("Epoch: 2, Loss:", "Epoch: 3, Loss:"):
        want = next(x for x in printed.splitlines() if x.startswith(line))
        assert want in resumed.splitlines(), f"resumed run printed no {want!r}"
    assert curve(tmp_path / "run", "train/loss") == curve(tmp_path / "reference", "train/loss")
