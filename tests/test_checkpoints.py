"""Checkpoint files: written atomically, read weights-only, hostile or wrong ones refused with one line."""

import functools
import json
import os
import pickle
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint as LightningModelCheckpoint

from conftest import TINY, assert_error_line, assert_names, compose_config, run_script
from mlplab.callbacks.model_checkpoint import ModelCheckpoint
from mlplab.errors import UserError
from mlplab.model.regressor import Regressor
from mlplab.run.checkpoint_io import SafeCheckpointIO
from mlplab.run.checkpoints import check_optimizer, load_checkpoint, not_applied_on_resume, resolve_ckpt_path
from mlplab.tasks.train import train


class Touch:
    """Unpickling this would run code: it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


class Unpicklable:
    def __reduce__(self) -> tuple[object, ...]:
        raise pickle.PicklingError("cannot pickle this (a crash in the middle of a write)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained")
    train(compose_config("train", [*TINY, "logger=none", "test=false"], run_dir))
    return run_dir


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    path = tmp_path / "hostile.ckpt"
    torch.save({"state_dict": {}, "payload": Touch(marker)}, path)
    return path, marker


def test_a_checkpoint_that_would_run_code_is_refused_everywhere(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    path, marker = hostile
    with pytest.raises(UserError) as refused:
        load_checkpoint(path)
    assert_names(str(refused.value), str(path), "weights")  # only weights are read
    # A resume refuses it too.
    with pytest.raises(UserError) as refused:
        train(compose_config("train", [*TINY, "logger=none", f"ckpt_path={path}"], tmp_path / "resume"))
    assert_names(str(refused.value), str(path))
    assert not marker.exists(), "loading the checkpoint executed code from it"


@pytest.mark.slow
def test_eval_refuses_a_checkpoint_that_would_run_code(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    """As users run it: one line, exit 2, and the payload never ran."""
    path, marker = hostile
    proc = run_script("eval.py", f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'eval'}", check=False)
    assert proc.returncode == 2
    assert_error_line(proc.stderr, str(path))
    assert not marker.exists(), "loading the checkpoint executed code from it"


@pytest.mark.slow
def test_a_plain_pickle_is_refused_in_one_line_as_data_or_as_a_checkpoint(tmp_path: Path) -> None:
    """torch's weights-only reader warns of the pickle protocol before it refuses; only the refusal shows."""
    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"x": [[1.0, 2.0]], "y": [1.0]}, protocol=4))
    for script, overrides in (("train.py", ["data=file", f"data.path={path}"]), ("eval.py", [f"ckpt_path={path}"])):
        proc = run_script(script, *overrides, f"hydra.run.dir={tmp_path / script}", check=False)
        assert proc.returncode == 2
        assert_error_line(proc.stderr, str(path))


DAMAGE = {"garbage": b"not a checkpoint" * 10, "empty": b"", "short text": b"hello\n", "four bytes": b"junk"}


@pytest.mark.parametrize("damage", ["truncated", *DAMAGE])
def test_corrupt_checkpoints_give_one_clear_error(trained: Path, tmp_path: Path, damage: str) -> None:
    good = (trained / "checkpoints" / "last.ckpt").read_bytes()
    path = tmp_path / "bad.ckpt"
    path.write_bytes(good[: len(good) // 2] if damage == "truncated" else DAMAGE[damage])
    with pytest.raises(UserError) as unreadable:
        load_checkpoint(path)
    assert_names(str(unreadable.value), str(path))


@pytest.mark.slow
def test_eval_needs_the_path_of_a_checkpoint(tmp_path: Path) -> None:
    # ckpt_path=last would name the eval's own (new) run dir's checkpoint: refused, no fresh start.
    last = run_script("eval.py", "ckpt_path=last", f"hydra.run.dir={tmp_path / 'a'}", check=False)
    assert last.returncode == 2 and "starting from scratch" not in last.stdout
    assert_error_line(last.stderr, "ckpt_path=last", "allowed")
    missing = run_script("eval.py", "ckpt_path=/nope.ckpt", f"hydra.run.dir={tmp_path / 'b'}", check=False)
    assert missing.returncode == 2
    assert_error_line(missing.stderr, "ckpt_path=/nope.ckpt", "allowed", ".ckpt file")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_missing_checkpoint_file_names_what_is_allowed(tmp_path: Path) -> None:
    for training, allowed in ((True, ("null", "last", ".ckpt file")), (False, (".ckpt file",))):
        with pytest.raises(UserError) as missing:
            resolve_ckpt_path("nowhere.ckpt", tmp_path, training=training)
        assert_names(str(missing.value), "ckpt_path=nowhere.ckpt", "allowed", *allowed)


def test_a_resume_names_the_settings_it_does_not_apply(tmp_path: Path) -> None:
    """Lightning restores the saved optimizer and scheduler: a changed lr or T_max would silently not apply."""
    saved = {
        "optimizer_states": [{"param_groups": [{"lr": 0.0, "initial_lr": 0.01, "momentum": 0.0, "params": [0]}]}],
        "lr_schedulers": [{"T_max": 2, "eta_min": 0.0, "last_epoch": 2}],
    }
    same = instantiate(compose_config("train", ["scheduler=cosine", "trainer.max_epochs=2"], tmp_path).model)
    assert not_applied_on_resume(saved, same) == []  # the lr a scheduler decayed is not a change
    changed = ["scheduler=cosine", "trainer.max_epochs=4", "optimizer.lr=0.5"]
    notes = not_applied_on_resume(saved, instantiate(compose_config("train", changed, tmp_path).model))
    assert notes == ["optimizer.lr=0.5 (saved: 0.01)", "scheduler.T_max=4 (saved: 2)"]


def test_resuming_with_a_different_architecture_names_the_mismatch(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "checkpoints" / "last.ckpt"
    cfg = compose_config("train", [*TINY, "logger=none", "model.hidden_dim=20", f"ckpt_path={ckpt}"], tmp_path)
    with pytest.raises(UserError) as mismatch:
        train(cfg)
    # The first weight that differs, its shape in the checkpoint and in the config, and the size it was trained at.
    assert_names(str(mismatch.value), "net.fc1.weight", "(10, 4)", "(20, 4)", "hidden_dim=10")


def test_checkpoint_writes_are_atomic(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    io = SafeCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
    with pytest.raises(pickle.PicklingError):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "extra": Unpicklable()}, path)
    # The failed write left the previous checkpoint whole, and no temp file behind.
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_temp_files_of_killed_writers_are_cleared_by_the_next_save(tmp_path: Path) -> None:
    """SIGKILL mid-write leaves a temp file; the next save removes it, but never a live writer's."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    dead = tmp_path / f".last.ckpt.{host}.{gone.pid}.tmp"
    dead_best = tmp_path / f".epoch=3-step=40.ckpt.{host}.{gone.pid}.tmp"  # a file no later save rewrites
    busy = tmp_path / f".last.ckpt.{host}.{os.getppid()}.tmp"  # a process that is still running
    elsewhere = tmp_path / f".last.ckpt.other-host.{gone.pid}.tmp"  # may be alive on a shared filesystem
    for tmp in (dead, dead_best, busy, elsewhere):
        tmp.write_bytes(b"half a checkpoint")
    SafeCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}}, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last.ckpt", busy.name, elsewhere.name])


def test_resuming_past_max_epochs_is_one_line_naming_the_epochs(tmp_path: Path) -> None:
    train(compose_config("train", [*TINY, "logger=none"], tmp_path))  # 2 epochs: last.ckpt is at epoch 2
    resume = compose_config("train", [*TINY, "logger=none", "trainer.max_epochs=1", "ckpt_path=last"], tmp_path)
    with pytest.raises(UserError) as done:
        train(resume)
    assert_names(str(done.value), "last.ckpt", "epoch 2", "trainer.max_epochs=1", "allowed")


def test_rerunning_a_finished_run_with_ckpt_path_last_trains_nothing_and_keeps_its_metrics(tmp_path: Path) -> None:
    """Whether last.ckpt was saved at the last epoch's end or again at the run's end (where Lightning's epoch
    counter has moved on: the last epoch was not the best), the same command resumes as a no-op."""
    train(compose_config("train", [*TINY, "logger=none"], tmp_path))
    before = json.loads((tmp_path / "metrics.json").read_text())
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["epoch"] = 2  # as ModelCheckpoint's save at the end of fit writes it
    ckpt["loops"]["fit_loop"]["epoch_progress"]["current"].update(ready=2, completed=2)
    torch.save(ckpt, last)
    after = train(compose_config("train", [*TINY, "logger=none", "ckpt_path=last"], tmp_path))
    assert after["global_step"] == before["global_step"]
    assert json.loads((tmp_path / "metrics.json").read_text()).keys() == before.keys()  # val/*, train/loss too


def test_a_weights_only_checkpoint_is_refused_for_a_resume(tmp_path: Path) -> None:
    weights_only = [*TINY, "logger=none", "test=false", "+callbacks.model_checkpoint.save_weights_only=true"]
    train(compose_config("train", weights_only, tmp_path))
    with pytest.raises(UserError) as refused:
        train(compose_config("train", [*weights_only, "trainer.max_epochs=3", "ckpt_path=last"], tmp_path))
    assert_names(str(refused.value), "last.ckpt", "save_weights_only", "allowed")


def test_a_checkpoint_of_the_other_task_is_refused(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "checkpoints" / "last.ckpt"  # a regression run's
    cfg = compose_config("train", [*TINY, "logger=none", "task=classification", f"ckpt_path={ckpt}"], tmp_path)
    with pytest.raises(UserError) as other:
        train(cfg)
    assert_names(str(other.value), str(ckpt), "Regressor", "task=regression")


@pytest.mark.parametrize("monitor", ["val/loss", "null"])
def test_step_saves_with_validation_twice_an_epoch_land_on_their_steps(tmp_path: Path, monitor: str) -> None:
    """Saves every 4 steps fall on each epoch's last batch; validation runs at half and end of each epoch."""
    saves = [
        f"callbacks.model_checkpoint.monitor={monitor}",
        "callbacks.model_checkpoint.save_top_k=-1",
        "callbacks.model_checkpoint.filename='step{step:.0f}'",
        "+callbacks.model_checkpoint.every_n_train_steps=4",
        "trainer.val_check_interval=0.5",
    ]
    train(compose_config("train", [*TINY, "logger=none", *saves], tmp_path))
    ckpts = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step4.ckpt", "step8.ckpt"]
    assert load_checkpoint(ckpts / "last.ckpt")["global_step"] == 8


def test_last_ckpt_is_the_final_state_when_validation_runs_inside_epochs(tmp_path: Path) -> None:
    """5 batches an epoch, validation every 2: no validation (so no save) follows the last batch."""
    overrides = ["logger=none", "data.batch_size=12", "trainer.val_check_interval=0.5", "test=false"]
    metrics = train(compose_config("train", [*TINY, *overrides], tmp_path))
    assert metrics["global_step"] == 10
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 10


def test_the_checkpoint_callback_keeps_lightnings_state_key() -> None:
    """Its state in a checkpoint sits under Lightning's key, so checkpoints of either class resume in the other."""
    ours = ModelCheckpoint(monitor="val/loss", every_n_train_steps=25)
    assert ours.state_key == LightningModelCheckpoint(monitor="val/loss", every_n_train_steps=25).state_key


def test_an_optimizer_state_saved_by_another_torch_version_still_resumes() -> None:
    """Torch adds optimizer settings over time and fills them in when it loads an older state."""
    model = Regressor(optimizer=functools.partial(torch.optim.Adam, lr=1e-3))
    state = model.configure_optimizers().state_dict()
    del state["param_groups"][0]["decoupled_weight_decay"]  # as a torch before the setting existed saved it
    check_optimizer({"optimizer_states": [state]}, model, "old.ckpt")  # no error
    sgd_state = torch.optim.SGD(model.parameters(), lr=0.1).state_dict()
    with pytest.raises(UserError) as other_optimizer:
        check_optimizer({"optimizer_states": [sgd_state]}, model, "old.ckpt")
    assert_names(str(other_optimizer.value), "old.ckpt", "Adam", "betas")  # what the state lacks
