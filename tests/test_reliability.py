"""Runs that go wrong: divergence stops cleanly, runs never share or reuse a directory by accident."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import OmegaConf

from conftest import ROOT, TINY, assert_error_line, assert_names, compose_config, run_script, whole
from mlplab.config import resolvers
from mlplab.errors import Interrupted, TrainingDiverged, UserError
from mlplab.run.checkpoint_io import SafeCheckpointIO
from mlplab.run.exit_codes import run_reporting_errors
from mlplab.tasks.compare import load_run
from mlplab.tasks.train import train


def assert_finite_checkpoint(path: Path) -> dict:
    ckpt = torch.load(path, weights_only=True)
    assert all(t.isfinite().all() for t in ckpt["state_dict"].values()), f"{path.name} holds NaN/inf weights"
    return ckpt


@pytest.mark.slow
def test_divergence_stops_the_run_with_advice_and_exit_3(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_script("train.py", *TINY, "optimizer.lr=1e6", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 3
    # When it diverged, and what to change: the learning rate, at its value now.
    error = assert_error_line(proc.stderr, "diverged", "epoch 0", "optimizer.lr", "1e+06")
    assert not (run_dir / "metrics.json").exists()  # not reported as a finished run
    for ckpt in (run_dir / "checkpoints").glob("*.ckpt"):
        assert_finite_checkpoint(ckpt)
    assert error in (run_dir / "train.log").read_text()  # the run's own log says why it ended
    assert load_run(run_dir).status == "diverged"  # in compare's table too


def test_an_inf_validation_loss_with_finite_weights_is_divergence_too(tmp_path: Path) -> None:
    """Two huge steps: the weights stay finite, their squared errors overflow float32. No "best" checkpoint."""
    cfg = compose_config(
        "train", ["optimizer.lr=1e6", "trainer.max_epochs=1", "data.num_samples=64", "logger=none"], tmp_path
    )
    with pytest.raises(TrainingDiverged) as diverged:
        train(cfg)
    assert_names(str(diverged.value), "validation loss", "NaN/inf", "optimizer.lr")
    assert not list(tmp_path.glob("checkpoints/epoch*.ckpt"))


def test_divergence_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    # lr 0.01 for epoch 0, then 1e6: epoch 0 is saved, epoch 1 diverges.
    blow_up = ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=1e8", "logger=none"]
    with pytest.raises(TrainingDiverged) as diverged:
        train(compose_config("train", [*TINY, *blow_up], tmp_path))
    assert_names(str(diverged.value), "epoch 1", "optimizer.lr", whole("0.01"))  # the lr it started with
    assert assert_finite_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["epoch"] == 0


def test_divergence_is_caught_without_any_checkpointing(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged) as diverged:
        train(compose_config("train", [*TINY, "optimizer.lr=1e6", "callbacks=none", "logger=none"], tmp_path))
    assert_names(str(diverged.value), "epoch 0")


def test_without_validation_divergence_is_caught_at_the_next_log_interval(tmp_path: Path) -> None:
    # One step per epoch; lr 0.01 then 1e6 from epoch 1. Checked every 5 steps: epoch 4 ends at step 5.
    blow_up = ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=1e8", "data.batch_size=null"]
    no_val = ["trainer.max_epochs=50", "trainer.check_val_every_n_epoch=1000", "trainer.log_every_n_steps=5"]
    cfg = compose_config("train", [*TINY, *blow_up, *no_val, "callbacks=none", "logger=none"], tmp_path)
    with pytest.raises(TrainingDiverged) as diverged:
        train(cfg)
    assert_names(str(diverged.value), "epoch 4", whole("step 5"))


def test_a_checkpoint_between_checks_is_checked_by_the_guard_first(tmp_path: Path) -> None:
    """No validation: a save every epoch, guard checks every 5 steps. The guard, which runs on every rank,
    stops the run at the first save after the blow-up; not rank 0's write refusing it alone (DDP would hang)."""
    blow_up = ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=1e8", "data.batch_size=null"]
    no_val = ["trainer.max_epochs=50", "trainer.limit_val_batches=0", "trainer.log_every_n_steps=5", "test=false"]
    saves = ["callbacks.model_checkpoint.monitor=null", "callbacks.progress_bar=null", "logger=none"]
    cfg = compose_config("train", [*TINY, *blow_up, *no_val, *saves], tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(TrainingDiverged) as diverged:
        train(cfg)
    assert_names(str(diverged.value), "epoch 3", whole("step 4"), str(last))  # where the last good weights are
    assert assert_finite_checkpoint(last)["global_step"] == 3


def test_nan_weights_are_never_written_over_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    io = SafeCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 0}, path)
    bad = {"state_dict": {"w": torch.tensor([1.0, float("nan")])}, "epoch": 1, "global_step": 8}
    with pytest.raises(TrainingDiverged) as refused:
        io.save_checkpoint(bad, path)
    assert_names(str(refused.value), str(path))
    assert torch.equal(assert_finite_checkpoint(path)["state_dict"]["w"], torch.ones(2))


def test_run_ids_differ_within_one_second() -> None:
    ids = [resolvers.run_id() for _ in range(20)]
    assert len(set(ids)) == 20 and len({i[:19] for i in ids}) <= 2  # same timestamp, still distinct


@pytest.mark.slow
def test_runs_started_together_get_their_own_directories(tmp_path: Path) -> None:
    """No hydra.run.dir: each run makes its own under paths.log_dir, even two started in the same second."""
    args = [sys.executable, str(ROOT / "scripts" / "train.py"), *TINY, "trainer.max_epochs=1", "test=false"]
    procs = [
        subprocess.Popen([*args, f"paths.log_dir={tmp_path}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    runs = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:  # each run wrote its own complete set, nothing of the other's
        assert (run / "metrics.json").is_file() and len(list((run / "checkpoints").glob("*.ckpt"))) == 2
        assert len(list((run / "tensorboard").glob("events.*"))) == 2  # training + the final HParams/test one


@pytest.mark.slow
def test_a_finished_runs_directory_is_only_reused_to_resume_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(compose_config("train", [*TINY, "trainer.max_epochs=1", "test=false"], run_dir))
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text("the finished run's config\n")
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    proc = run_script("train.py", *TINY, "optimizer.lr=0.5", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, f"hydra.run.dir={run_dir}", "ckpt_path=last")  # how to resume it instead
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before  # untouched
    # eval would write its own metrics.json over the run's: it cannot resume, so it is not told to.
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = run_script("eval.py", f"ckpt_path={last}", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 2
    assert "ckpt_path=last" not in assert_error_line(proc.stderr, f"hydra.run.dir={run_dir}")
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before
    # eval with ckpt_path=last (its own new run dir has no checkpoint): test_checkpoints.py.


def test_ctrl_c_before_a_task_handles_it_is_one_line() -> None:
    """The scripts' whole life runs in ctrl_c_in_one_line: a Ctrl-C while Hydra composes and checks the config
    (before the task's own handler) ends in one line with 130, not a KeyboardInterrupt traceback."""
    code = (
        "import os, signal, time\n"
        "from mlplab.run.exit_codes import ctrl_c_in_one_line\n"
        "with ctrl_c_in_one_line():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(5)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130
    assert proc.stderr.splitlines() == ["stopped: interrupted by SIGINT"]


def test_an_empty_run_dir_is_refused_not_the_working_directory(tmp_path: Path) -> None:
    proc = run_script("train.py", *TINY, "hydra.run.dir=", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, "hydra.run.dir", "allowed")
    assert not list(tmp_path.iterdir())  # nothing written where the command ran


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UserError("data.batch_size=0 is invalid"), 2),
        (TrainingDiverged("training diverged"), 3),
        (Interrupted(signal.SIGINT, "interrupted by SIGINT"), 130),
        (Interrupted(signal.SIGTERM, "interrupted by SIGTERM"), 143),
        # Lightning refusing a value once fit/test runs, e.g. a limit_val_batches fraction of a 1-batch split.
        (MisconfigurationException("You requested to check 0.5 of the `val_dataloader`"), 2),
    ],
)
def test_each_way_of_stopping_has_its_exit_code_and_one_line(error: BaseException, code: int, capsys) -> None:
    def task() -> None:
        raise error

    with pytest.raises(SystemExit) as exit_:
        run_reporting_errors(task)
    assert exit_.value.code == code
    assert capsys.readouterr().err.strip() in (f"error: {error}", f"stopped: {error}")


def test_lightnings_refusal_of_a_limit_names_the_config_key(capsys) -> None:
    def task() -> None:
        raise MisconfigurationException("0.5 * 1 < 1. Please increase the `limit_val_batches` argument.")

    with pytest.raises(SystemExit):
        run_reporting_errors(task)
    assert_error_line(capsys.readouterr().err, "trainer.limit_val_batches", "0.5 * 1 < 1")  # the key, and why


def test_a_missing_mandatory_value_is_one_line_naming_the_key(capsys) -> None:
    def task() -> None:
        print(OmegaConf.create({"runs": "???"}).runs)  # what a script does with a required value left out

    with pytest.raises(SystemExit) as exit_:
        run_reporting_errors(task)
    assert exit_.value.code == 2
    assert_error_line(capsys.readouterr().err, whole("runs"))


def test_an_error_that_is_not_the_inputs_fault_keeps_its_traceback() -> None:
    def task() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run_reporting_errors(task)
